"""Per-utterance unit segments of the AM's training data, for the teachers' soft targets.

Glue over :mod:`kaldi_kd.units.alignment` (which owns the unit definitions): reads the
transition-id alignments of ``<ali-dir>/ali.*.gz`` once and gives, per unit level the
KD config needs, utterance -> :class:`~kaldi_kd.units.segments.Segments`:

- senone: needs the transition model (``<ali-dir>/final.mdl``);
- monophone: also the lang dir (phone -> base-phone map, as the teacher's vocabulary);
- subword: also the lang dir, the transcripts (``<data-dir>/text``) and the teacher's
  sentencepiece model.

Utterances whose segments cannot be built (e.g. transcript and alignment disagree) are
skipped with a warning; they then get no soft target (mask False) but keep their CE.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Dict, Iterable, Mapping, Optional, Sequence, Union

import numpy as np

from kaldi_kd.data.tables import read_int_vectors
from kaldi_kd.units.alignment import (AlignmentError, TransitionTables, monophone_segments,
                                      phone_instances, senone_segments, subword_segments, word_spans)
from kaldi_kd.units.segments import Segments

PathLike = Union[str, os.PathLike]
log = logging.getLogger("kaldi_kd.kd")


def read_alignments(ali_dir: PathLike) -> Dict[str, np.ndarray]:
    """utt -> int32 transition-ids from every ``ali.N.gz`` of ``ali_dir``."""
    files = sorted(Path(ali_dir).glob("ali.*.gz"), key=lambda p: int(p.name.split(".")[1]))
    if not files:
        raise FileNotFoundError(f"expected files {ali_dir}/ali.*.gz to exist")
    out: Dict[str, np.ndarray] = {}
    for path in files:
        for utt, tids in read_int_vectors(str(path)):
            out[utt] = np.asarray(tids, dtype=np.int32).copy()
    return out


def read_text(path: PathLike) -> Dict[str, list]:
    """Kaldi ``text``: utt -> list of words."""
    out = {}
    for line in Path(path).read_text().splitlines():
        fields = line.split()
        if fields:
            out[fields[0]] = fields[1:]
    return out


def find_spm_model(teacher_dir: PathLike) -> Path:
    """The sentencepiece model of a subword teacher: ``<dir>/spm.model`` or ``<dir>/*.model``."""
    d = Path(teacher_dir)
    cands = [d / "spm.model"] + sorted(d.glob("*.model"))
    for c in cands:
        if c.is_file():
            return c
    raise FileNotFoundError(f"expected a sentencepiece model {d}/spm.model (pass --spm-model)")


def unit_segments(
    units: Sequence[str],
    ali_dir: PathLike,
    trans_model,
    lang_dir: Optional[PathLike] = None,
    text: Optional[Mapping[str, Sequence[str]]] = None,
    sp=None,
    utts: Optional[Iterable[str]] = None,
) -> Dict[str, Dict[str, Segments]]:
    """unit -> utt -> Segments for the requested unit levels.

    Args:
        units: subset of ("senone", "monophone", "subword").
        ali_dir: dir with ``ali.*.gz`` (transition-ids).
        trans_model: the alignment's TransitionModel.
        lang_dir: needed for monophone and subword.
        text: utt -> words, needed for subword.
        sp: sentencepiece processor, needed for subword.
        utts: restrict to these utterances (default: every aligned one).

    Raises:
        ValueError / FileNotFoundError: naming what a level needs and is missing.
    """
    alis = read_alignments(ali_dir)
    keep = sorted(alis) if utts is None else [u for u in utts if u in alis]
    tt = TransitionTables.from_model(trans_model)
    lang = phone_map = None
    if {"monophone", "subword"} & set(units):
        if lang_dir is None:
            raise ValueError("monophone/subword segments need the lang dir (--lang)")
        from kaldi_kd.units.lang_info import load_lang_info
        from kaldi_kd.units.vocab import monophone_vocab, subword_vocab

        lang = load_lang_info(lang_dir)
        _, phone_map = monophone_vocab(lang)
    if "subword" in units and (text is None or sp is None):
        raise ValueError("subword segments need the transcripts (<data-dir>/text) and a sentencepiece model")
    out: Dict[str, Dict[str, Segments]] = {u: {} for u in units}
    skipped: Dict[str, int] = {u: 0 for u in units}
    for utt in keep:
        ali = alis[utt]
        for unit in units:
            try:
                if unit == "senone":
                    seg = senone_segments(ali, tt, utt)
                elif unit == "monophone":
                    seg = monophone_segments(ali, tt, phone_map, utt)
                else:
                    if utt not in text:
                        raise AlignmentError(f"{utt}: no transcript")
                    spans = word_spans(phone_instances(ali, tt, utt), lang, text[utt], utt)
                    seg = subword_segments(spans, sp, subword_vocab(sp).sil_id)
            except (AlignmentError, KeyError) as e:
                skipped[unit] += 1
                if skipped[unit] <= 5:
                    log.warning("%s segments: %s (utterance gets no %s soft targets)", unit, e, unit)
                continue
            out[unit][utt] = seg
    for unit in units:
        log.info("%s segments for %d of %d utterances (%d skipped)", unit, len(out[unit]), len(keep), skipped[unit])
        if keep and not out[unit]:
            raise ValueError(f"no {unit} segments could be built from {ali_dir} (see the warnings)")
    return out


class PartialEngine:
    """A SoftTargetEngine wrapper for batches holding utterances without segments.

    Rows whose utterance has no segments get zero targets and ``mask`` False (CE only);
    the other rows come from the wrapped engine unchanged.
    """

    def __init__(self, engine) -> None:
        self.engine = engine

    @property
    def vocab_size(self) -> int:
        return self.engine.vocab_size

    @property
    def tau(self) -> float:
        return self.engine.tau

    def targets(self, utt_ids, starts, num_frames, device, lengths=None):
        import torch

        have = [i for i, u in enumerate(utt_ids) if u in self.engine.segments]
        if len(have) == len(utt_ids):
            return self.engine.targets(utt_ids, starts, num_frames, device, lengths=lengths)
        device = torch.device(device)
        B, V, k = len(utt_ids), self.engine.vocab_size, self.engine.top_k
        shape = (B, int(num_frames), k or V)
        values = torch.zeros(shape, device=device)
        indices = torch.zeros(shape, dtype=torch.long, device=device) if k else None
        mask = torch.zeros(B, int(num_frames), dtype=torch.bool, device=device)
        if have:
            idx = torch.tensor(have)
            sub_starts = torch.as_tensor(starts).cpu()[idx]
            sub_lengths = None if lengths is None else torch.as_tensor(lengths).cpu()[idx]
            sub = self.engine.targets([utt_ids[i] for i in have], sub_starts, num_frames, device, lengths=sub_lengths)
            rows = idx.to(device)
            values[rows] = sub.probs if k is None else sub.topk_values
            if k:
                indices[rows] = sub.topk_indices
            mask[rows] = sub.mask
        from kaldi_kd.kd.soft_targets import SoftTargets

        return SoftTargets(values, None, None, mask) if k is None else SoftTargets(None, values, indices, mask)
