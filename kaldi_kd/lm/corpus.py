"""Unit corpora: text files of integer unit ids, one sequence per line (gzip ok).

A unit-corpus directory (written by ``steps_py/make_unit_corpus.py``) holds
``units.txt`` (the vocabulary: ``<symbol> <id>`` per line, ids 0..V-1),
``train.txt.gz`` and ``valid.txt.gz``, and beside them the units' group codes
``train.bounds.gz`` / ``valid.bounds.gz`` (one digit per unit, 2 = opens a word,
1 = opens a phone, 0 = continues; see :mod:`kaldi_kd.units.segments`), which
span-masked teachers need.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Iterator, List, Sequence, Union

import numpy as np

from kaldi_kd.errors import InputError, MissingFileError

PathLike = Union[str, os.PathLike]
_REBUILD = " (units.txt and the corpus must come from one steps_py/make_unit_corpus.py run; rebuild it)"


def open_text(path: PathLike, mode: str = "rt"):
    """Open a text file, gzip'd when the name ends in .gz."""
    path = str(path)
    return gzip.open(path, mode, encoding="utf-8") if path.endswith(".gz") else open(path, mode, encoding="utf-8")


def iter_sequences(path: PathLike, vocab_size: int = 0) -> Iterator[np.ndarray]:
    """Stream int32 sequences from a unit-corpus file (empty lines skipped).

    Raises:
        ValueError: naming file and line for a non-integer or out-of-vocabulary id.
    """
    with open_text(path) as f:
        for lineno, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            try:
                seq = np.array([int(x) for x in fields], dtype=np.int32)
            except ValueError:
                raise InputError(f"{path}:{lineno}: expected integer unit ids{_REBUILD}") from None
            if vocab_size and (seq.min() < 0 or seq.max() >= vocab_size):
                raise InputError(f"{path}:{lineno}: unit id outside 0..{vocab_size - 1}{_REBUILD}")
            yield seq


def iter_bounds(path: PathLike) -> Iterator[np.ndarray]:
    """Stream int8 group-code rows of a ``*.bounds.gz`` file (empty lines skipped, as the units).

    Raises:
        ValueError: naming file and line for a character other than 0, 1, 2.
    """
    with open_text(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            row = np.frombuffer(line.encode("ascii", "replace"), dtype=np.uint8).astype(np.int16) - ord("0")
            if row.min() < 0 or row.max() > 2 or row[0] != 2:
                raise InputError(f"{path}:{lineno}: expected group codes 0/1/2 starting with 2{_REBUILD}")
            yield row.astype(np.int8)


def load_bounds(path: PathLike, sequences: List[np.ndarray]) -> List[np.ndarray]:
    """Group codes of a unit-corpus file, checked against its ``sequences``.

    Raises:
        FileNotFoundError: naming the missing file (made by make_unit_corpus.py).
        ValueError: naming file and line when a row's length differs from its sequence's.
    """
    if not Path(path).exists():
        raise MissingFileError(path, "span-masked teachers need group codes: rerun steps_py/make_unit_corpus.py")
    rows = list(iter_bounds(path))
    if len(rows) != len(sequences):
        raise InputError(f"{path}: {len(rows)} rows for {len(sequences)} unit sequences{_REBUILD}")
    for i, (b, s) in enumerate(zip(rows, sequences), 1):
        if len(b) != len(s):
            raise InputError(f"{path}: row {i} has {len(b)} codes for {len(s)} units{_REBUILD}")
    return rows


def load_sequences(path: PathLike, vocab_size: int = 0) -> List[np.ndarray]:
    """All sequences of a unit-corpus file as a list of int32 arrays."""
    return list(iter_sequences(path, vocab_size))


def read_vocab(path: PathLike) -> List[str]:
    """Symbols of ``units.txt`` in id order (ids must be 0..V-1).

    Raises:
        ValueError: naming the file and line on a malformed or out-of-order entry.
    """
    symbols: List[str] = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2 or fields[1] != str(len(symbols)):
                raise InputError(f"{path}:{lineno}: expected '<symbol> {len(symbols)}'")
            symbols.append(fields[0])
    return symbols


def write_vocab(path: PathLike, symbols: Sequence[str]) -> None:
    """Write ``units.txt`` atomically: one ``<symbol> <id>`` per line."""
    from kaldi_kd.data.atomic import write_text_atomic

    write_text_atomic(path, "".join(f"{s} {i}\n" for i, s in enumerate(symbols)))


def corpus_files(corpus_dir: PathLike) -> dict:
    """Paths of a unit-corpus directory's files (not checked)."""
    d = Path(corpus_dir)
    return {"vocab": d / "units.txt", "train": d / "train.txt.gz", "valid": d / "valid.txt.gz",
            "train_bounds": d / "train.bounds.gz", "valid_bounds": d / "valid.bounds.gz"}
