"""Per-utterance unit segments on disk (Kaldi int-vector arks) and their loading.

A segments dir for one level (``exp/<ali>/units/<level>/``, written by
``steps_py/ali_to_units.py``) holds::

    units.txt    the level's vocabulary (``<symbol> <id>``), identical to the teacher's
    units.gz     int-vector ark: utt → unit ids (K,)
    ends.gz      int-vector ark: utt → exclusive end frames (K,) at the input frame rate
    bounds.gz    int-vector ark: utt → group codes (K,) (optional; span-masked teachers need it)

Example:
    >>> segs = load_segments("exp/tri1_ali/units/senone")   # doctest: +SKIP
    >>> segs["utt1"].units, segs["utt1"].ends                # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Iterable, Mapping, Sequence, Union

from kaldi_kd.data.tables import read_int_vectors, write_int_vectors
from kaldi_kd.errors import InputError, MissingFileError
from kaldi_kd.lm.corpus import read_vocab, write_vocab
from kaldi_kd.units.segments import Segments

PathLike = Union[str, os.PathLike]


def write_segments(seg_dir: PathLike, segments: Mapping[str, Segments], symbols: Sequence[str]) -> None:
    """Write ``units.txt``, ``units.gz``, ``ends.gz`` (sorted by utterance id), atomically."""
    d = Path(seg_dir)
    d.mkdir(parents=True, exist_ok=True)
    keys = sorted(segments)
    write_int_vectors(d / "units.gz", ((k, segments[k].units) for k in keys))
    write_int_vectors(d / "ends.gz", ((k, segments[k].ends) for k in keys))
    if keys and all(segments[k].bounds is not None for k in keys):
        write_int_vectors(d / "bounds.gz", ((k, segments[k].bounds.astype("int32")) for k in keys))
    elif (d / "bounds.gz").exists():
        (d / "bounds.gz").unlink()  # stale: these segments carry none
    write_vocab(d / "units.txt", symbols)


def load_segments(seg_dir: PathLike) -> Dict[str, Segments]:
    """utt → Segments from a segments dir.

    Raises:
        FileNotFoundError: naming a missing file; ValueError naming the utterance when
            units and ends disagree or ids exceed the vocabulary.
    """
    d = Path(seg_dir)
    for name in ("units.txt", "units.gz", "ends.gz"):
        if not (d / name).exists():
            raise MissingFileError(d / name)
    vocab_size = len(read_vocab(d / "units.txt"))
    ends = dict(read_int_vectors(str(d / "ends.gz")))
    bounds = dict(read_int_vectors(str(d / "bounds.gz"))) if (d / "bounds.gz").exists() else None
    out: Dict[str, Segments] = {}
    for utt, units in read_int_vectors(str(d / "units.gz")):
        if utt not in ends:
            raise InputError(f"{d / 'ends.gz'}: no entry for utterance {utt}")
        if bounds is not None and utt not in bounds:
            raise InputError(f"{d / 'bounds.gz'}: no entry for utterance {utt}")
        if len(units) and (units.min() < 0 or units.max() >= vocab_size):
            raise InputError(f"{d / 'units.gz'}: utterance {utt} has unit ids outside 0..{vocab_size - 1}")
        try:
            out[utt] = Segments(units, ends[utt], None if bounds is None else bounds[utt])
        except ValueError as e:
            raise InputError(f"{d}: utterance {utt}: {e}") from None
    return out


def load_unit_segments(units_dir: PathLike, levels: Iterable[str]) -> Dict[str, Dict[str, Segments]]:
    """level → utt → Segments from ``<units_dir>/<level>/`` for each level."""
    return {lv: load_segments(Path(units_dir) / lv) for lv in levels}
