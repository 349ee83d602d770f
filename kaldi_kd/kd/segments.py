"""Unit segments of the AM's training data for the teachers' soft targets.

Two sources, both owned by :mod:`kaldi_kd.units` (this module only picks one):

- a units dir written by ``steps_py/ali_to_units.py`` (``<ali-dir>/units/<level>/``
  with ``units.txt``, ``units.gz``, ``ends.gz``), read with ``load_unit_segments``;
- otherwise computed from ``<ali-dir>/ali.*.gz`` with ``alignment_segments`` (needs the
  lang dir, the transcripts and, for subwords, the sentencepiece model).

Utterances without segments (alignment and transcript disagree) get no soft targets
(:class:`PartialEngine`, mask False) and keep their CE.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple, Union

from kaldi_kd.errors import InputError
from kaldi_kd.units.segments import Segments

PathLike = Union[str, os.PathLike]
log = logging.getLogger("kaldi_kd.kd")


def find_spm_model(teacher_dir: PathLike) -> Path:
    """The sentencepiece model of a subword teacher: ``<dir>/spm.model`` or ``<dir>/*.model``."""
    d = Path(teacher_dir)
    for c in [d / "spm.model"] + sorted(d.glob("*.model")):
        if c.is_file():
            return c
    raise FileNotFoundError(f"expected a sentencepiece model {d}/spm.model (pass --spm-model)")


def read_text(path: PathLike) -> Dict[str, list]:
    """Kaldi ``text``: utt -> list of words."""
    out = {}
    for line in Path(path).read_text().splitlines():
        fields = line.split()
        if fields:
            out[fields[0]] = fields[1:]
    return out


def training_segments(
    levels: Sequence[str],
    ali_dir: PathLike,
    units_dir: Optional[PathLike] = None,
    lang_dir: Optional[PathLike] = None,
    data_dir: Optional[PathLike] = None,
    spm_model: Optional[PathLike] = None,
) -> Tuple[Dict[str, Dict[str, Segments]], Dict[str, int]]:
    """(level -> utt -> Segments, level -> vocabulary size) for the levels KD needs.

    The level "word" (what a pretrained ``hf:<dir>`` teacher tokenises itself) comes back
    as utt -> word spans ``[(word or None, start, end), ...]`` instead of Segments.

    Args:
        levels: unit levels.
        ali_dir: alignment dir (``final.mdl``, ``ali.*.gz``).
        units_dir: a units dir from ali_to_units.py; used when it has every level.
        lang_dir, data_dir, spm_model: needed to compute segments without a units dir.

    Raises:
        FileNotFoundError / ValueError: naming what is missing.
    """
    from kaldi_kd.units.vocab import WORD_LEVEL

    if units_dir is not None and all((Path(units_dir) / lv / "units.gz").exists() for lv in levels):
        from kaldi_kd.lm.corpus import read_vocab
        from kaldi_kd.units.io import load_unit_segments

        log.info("unit segments from %s", units_dir)
        symbols = {lv: read_vocab(Path(units_dir) / lv / "units.txt") for lv in levels}
        segs = load_unit_segments(units_dir, levels)
        if WORD_LEVEL in levels:
            segs[WORD_LEVEL] = _spans(segs[WORD_LEVEL], symbols[WORD_LEVEL])
        return segs, {lv: len(sym) for lv, sym in symbols.items()}
    if lang_dir is None or data_dir is None:
        raise FileNotFoundError(
            f"no units dir with {', '.join(levels)} (steps_py/ali_to_units.py) and no --lang to compute them"
        )
    from kaldi_kd.data.tables import read_int_vectors
    from kaldi_kd.gmm.model_io import read_transition_model
    from kaldi_kd.units.from_alignments import alignment_segments, level_vocab
    from kaldi_kd.gmm.lang import Lang

    sp = None
    if "subword" in levels:
        from kaldi_kd.units.spm import load_spm

        if spm_model is None:
            raise FileNotFoundError("subword segments need the sentencepiece model (--spm-model)")
        sp = load_spm(spm_model)
    lang = Lang(lang_dir)
    tm = read_transition_model(str(Path(ali_dir) / "final.mdl"))
    files = sorted(Path(ali_dir).glob("ali.*.gz"), key=lambda p: int(p.name.split(".")[1]))
    items = ((u, a.copy()) for f in files for u, a in read_int_vectors(str(f)))
    texts = read_text(Path(data_dir) / "text")
    segs, failed = alignment_segments(items, texts, lang, tm, list(levels), sp)
    for lv in levels:
        log.info("%s segments for %d utterances (%d failed)", lv, len(segs[lv]), len(failed))
        if not segs[lv]:
            raise InputError(f"no {lv} segments could be built from {ali_dir} (see the warnings)")
    sizes = {lv: len(level_vocab(lv, lang, tm, sp, texts)) for lv in levels}
    if WORD_LEVEL in levels:
        segs[WORD_LEVEL] = _spans(segs[WORD_LEVEL], level_vocab(WORD_LEVEL, lang, texts=texts).symbols)
    return segs, sizes


def _spans(word_segs: Dict[str, Segments], symbols: Sequence[str]) -> Dict[str, list]:
    """utt -> word spans of word-level Segments."""
    from kaldi_kd.units.alignment import segments_to_spans

    return {u: segments_to_spans(s, symbols) for u, s in word_segs.items()}


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
        neg_ent = torch.zeros(B, int(num_frames), device=device)
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
            if sub.neg_entropy is not None:
                neg_ent[rows] = sub.neg_entropy
        from kaldi_kd.kd.soft_targets import SoftTargets

        if k is None:
            return SoftTargets(values, None, None, mask, neg_ent)
        return SoftTargets(None, values, indices, mask, neg_ent)
