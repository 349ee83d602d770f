"""All unit levels of a set of alignments: ali.N.gz + transcripts → Segments per level.

Example:
    >>> levels = alignment_segments(alis, texts, lang, tm, ["senone", "subword"], sp)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from typing import Dict, Iterable, List, Mapping, Sequence, Tuple

import numpy as np


from kaldi_kd.units.alignment import (AlignmentError, TransitionTables, _groups_by_boundary, monophone_segments,
                                      phone_instances, senone_segments, subword_segments, word_segments, word_spans)
from kaldi_kd.gmm.lang import Lang
from kaldi_kd.units.segments import Segments
from kaldi_kd.units.vocab import LEVELS, WORD_LEVEL, UnitVocab, monophone_vocab, senone_vocab, subword_vocab, word_vocab

log = logging.getLogger("kaldi_kd.units")


def level_vocab(level: str, lang: Lang, trans_model=None, sp=None, texts=None) -> UnitVocab:
    """The vocabulary of ``level`` (same as the text side's, so teacher and AM agree;
    the word level's comes from the transcripts ``texts``)."""
    if level == WORD_LEVEL:
        return word_vocab(texts or {})
    if level == "senone":
        return senone_vocab(trans_model.num_pdfs)
    if level == "monophone":
        return monophone_vocab(lang)[0]
    if level == "subword":
        return subword_vocab(sp)
    raise ValueError(f"unknown unit level {level!r}; expected one of {LEVELS}")


def alignment_segments(
    alignments: Iterable[Tuple[str, np.ndarray]],
    texts: Mapping[str, Sequence[str]],
    lang: Lang,
    trans_model,
    levels: Sequence[str],
    sp=None,
) -> Tuple[Dict[str, Dict[str, Segments]], List[str]]:
    """Segments per level for every alignment; utterances that fail are skipped and logged.

    Args:
        alignments: (utt, transition-ids) pairs (e.g. read_int_vectors("ali.1.gz")).
        texts: utt → transcript words (needed for "subword").
        lang: Lang of the lang dir the alignments were made with.
        trans_model: the TransitionModel of the alignments' final.mdl.
        levels: subset of LEVELS, or "word" (word spans; vocabulary :func:`word_vocab` of ``texts``).
        sp: sentencepiece processor (for "subword").

    Returns:
        (level → utt → Segments, failed utterance ids).
    """
    tt = TransitionTables.from_model(trans_model)
    _, phone_map = monophone_vocab(lang)
    sil_id = subword_vocab(sp).sil_id if "subword" in levels else -1
    word_index = {w: i for i, w in enumerate(word_vocab(texts).symbols)} if WORD_LEVEL in levels else {}
    out: Dict[str, Dict[str, Segments]] = {lv: {} for lv in levels}
    failed: List[str] = []
    for utt, ali in alignments:
        try:
            segs = {}
            spans = _word_groups(ali, tt, lang, texts.get(utt), utt)
            starts = None if spans is None else [s for _, s, _ in spans]
            if "senone" in levels:
                segs["senone"] = senone_segments(ali, tt, utt, starts)
            if "monophone" in levels:
                segs["monophone"] = monophone_segments(ali, tt, phone_map, utt, starts)
            if ("subword" in levels or WORD_LEVEL in levels) and utt not in texts:
                raise AlignmentError(f"{utt}: no transcript")
            if "subword" in levels:
                segs["subword"] = subword_segments(spans, sp, sil_id)
            if WORD_LEVEL in levels:
                segs[WORD_LEVEL] = word_segments(spans, word_index)
        except AlignmentError as e:
            log.warning("skipping %s", e)
            failed.append(utt)
            continue
        for lv, s in segs.items():
            out[lv][utt] = s
    return out, failed


def _word_groups(ali: np.ndarray, tt: TransitionTables, lang: Lang, transcript, utt: str):
    """Word (or silence) spans: matched to the transcript when there is one, else from
    word-position phones (only the starts are then used), else None."""
    inst = phone_instances(ali, tt, utt)
    if transcript is not None:
        return word_spans(inst, lang, transcript, utt)
    if lang.position_dependent:
        return _groups_by_boundary(inst, lang, utt)
    return None


def silence_rates(
    alignments: Iterable[Tuple[str, np.ndarray]],
    texts: Mapping[str, Sequence[str]],
    lang: Lang,
    trans_model,
) -> Dict[str, float]:
    """How often alignments put silence where L.fst allows it (to choose text-side sil probs).

    Returns:
        {"leading", "trailing": fraction of utterances, "inner": fraction of word
        boundaries with silence, "utterances": count}; utterances that fail are skipped.
    """
    tt = TransitionTables.from_model(trans_model)
    n = lead = trail = inner = bounds = 0
    for utt, ali in alignments:
        if utt not in texts:
            continue
        try:
            items = [w for w, _, _ in word_spans(phone_instances(ali, tt, utt), lang, texts[utt], utt)]
        except AlignmentError:
            continue
        n += 1
        lead += items[0] is None
        trail += items[-1] is None
        inner += sum(i is None for i in items[1:-1])
        bounds += max(0, len(texts[utt]) - 1)
    return {"leading": lead / max(1, n), "trailing": trail / max(1, n), "inner": inner / max(1, bounds),
            "utterances": n}
