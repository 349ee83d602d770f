"""Kaldi tables (ark/scp) of matrices, vectors and int vectors, including ``ali.N.gz``.

Specifiers follow Kaldi loosely: ``"scp:feats.scp"``, ``"ark:foo.ark"``, or a
plain path whose suffix says the kind (``.scp``; ``.ark``; ``.gz`` = gzip'd ark).
Reading copies every array (kaldi-native-io hands out views that the next read
overwrites; kaldiio's are safe but we keep one rule).  Writing is atomic.
Errors name the file (and the utterance where one is known).
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Mapping, Optional, Tuple, Union

import kaldiio
import numpy as np

from kaldi_kd.data.atomic import atomic_path
from kaldi_kd.errors import KaldiKdError

PathLike = Union[str, os.PathLike]
Item = Tuple[str, np.ndarray]


class TableError(KaldiKdError, ValueError):
    """A Kaldi table could not be read or written; the message names the file."""


SPECIFIER_OPTIONS = ("t", "b", "s", "cs", "ns", "o", "p", "f", "nf", "bg")  # Kaldi's r/wspecifier options


def split_specifier(spec: PathLike) -> Tuple[str, List[str], str]:
    """(kind, options, target) of a Kaldi r/wspecifier or a plain path.

    kind is ``"ark"``, ``"scp"`` or ``"ark+scp"`` (``ark,scp:<ark>,<scp>``, target holding
    both); options are the letters after the kind (``t``, ``b``, ``s``, ``cs``, ...).  A plain
    path (or a prefix that is not a specifier) is an scp when it ends in ``.scp``, else an ark.
    """
    spec = str(spec)
    head, sep, rest = spec.partition(":")
    opts = head.split(",")
    if sep and opts[0] in ("ark", "scp") and all(o in ("ark", "scp") + SPECIFIER_OPTIONS for o in opts):
        kinds = [o for o in opts if o in ("ark", "scp")]
        return "+".join(kinds), [o for o in opts if o not in ("ark", "scp")], rest
    return ("scp" if spec.endswith(".scp") else "ark"), [], spec


def _split_spec(spec: PathLike) -> Tuple[str, str]:
    """(kind "scp" or "ark", path) of a read specifier (options dropped)."""
    kind, _, path = split_specifier(spec)
    return kind.split("+")[0], path


def read_table(spec: PathLike) -> Iterator[Item]:
    """Iterate (key, array) over an ark, a gzip'd ark or an scp, in file order.

    Raises:
        TableError: naming the file (and the last key read) on a missing or corrupt table.
    """
    kind, path = _split_spec(spec)
    if not os.path.exists(path):
        raise TableError(f"{path}: no such table file")
    last = None
    try:
        if kind == "scp":
            for key, arr in kaldiio.load_scp_sequential(path):
                last = key
                yield key, np.array(arr, copy=True)
        else:
            opener = gzip.open if path.endswith(".gz") else open
            with opener(path, "rb") as f:
                for key, arr in kaldiio.load_ark(f):
                    last = key
                    yield key, np.array(arr, copy=True)
    except TableError:
        raise
    except Exception as err:  # kaldiio raises assorted types on corrupt input
        where = f" after utterance '{last}'" if last else " at its start"
        raise TableError(f"{path}: corrupt or unreadable {kind}{where}: {err} (a killed or full-disk "
                         "write? rerun the stage that wrote it)") from err


def read_table_dict(spec: PathLike) -> Dict[str, np.ndarray]:
    """Read a whole table into a dict (duplicate keys are an error)."""
    out: Dict[str, np.ndarray] = {}
    for key, arr in read_table(spec):
        if key in out:
            raise TableError(f"{_split_spec(spec)[1]}: duplicate key '{key}'")
        out[key] = arr
    return out


class ScpReader(Mapping[str, np.ndarray]):
    """Random access to an scp by key (like Kaldi's ``RandomAccessTableReader``)."""

    def __init__(self, scp: PathLike):
        self.path = str(scp)
        if not os.path.exists(self.path):
            raise TableError(f"{self.path}: no such scp file")
        self._table = kaldiio.load_scp(self.path)

    def __getitem__(self, key: str) -> np.ndarray:
        try:
            return np.array(self._table[key], copy=True)
        except KeyError:
            raise KeyError(f"{self.path}: no entry for utterance '{key}'") from None
        except Exception as err:
            raise TableError(f"{self.path}: cannot read utterance '{key}': {err} (a killed or full-disk "
                             "write? rerun the stage that wrote it)") from err

    def __contains__(self, key: object) -> bool:
        return key in self._table  # no read (Mapping's default would load the matrix)

    def __iter__(self) -> Iterator[str]:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)


def write_table(ark: PathLike, items: Iterable[Item], scp: Optional[PathLike] = None,
                compress: bool = False) -> int:
    """Write (key, array) pairs to ``ark`` (gzip'd if it ends in .gz), optionally an scp.

    int32 1-D arrays are written as Kaldi int vectors (alignments), float arrays as
    Kaldi float matrices/vectors.  Both files appear atomically.

    Returns:
        the number of entries written.
    """
    ark = Path(ark)
    if scp is not None and str(ark).endswith(".gz"):
        raise TableError(f"{ark}: an scp cannot point into a gzip'd ark")
    n = 0
    with atomic_path(ark) as tmp_ark:
        opener = gzip.open if str(ark).endswith(".gz") else open
        offsets = []
        with opener(tmp_ark, "wb") as f:
            for key, arr in items:
                if not key or any(c.isspace() for c in key):
                    raise TableError(f"{ark}: invalid key {key!r} (empty or contains whitespace)")
                f.write(key.encode() + b" ")
                offsets.append((key, f.tell()))
                if compress:
                    kaldiio.save_mat(f, _kaldi_array(arr), compression_method=2)
                else:
                    _save_plain(f, arr)
                n += 1
        if scp is not None:
            lines = "".join(f"{k} {ark}:{off}\n" for k, off in offsets)
            with atomic_path(scp) as tmp_scp:
                tmp_scp.write_text(lines)
    return n


def _kaldi_array(arr: np.ndarray) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.dtype == np.float64:
        return arr
    if np.issubdtype(arr.dtype, np.floating):
        return arr.astype(np.float32, copy=False)
    return arr


def _save_plain(f, arr: np.ndarray) -> None:
    arr = np.asarray(arr)
    if np.issubdtype(arr.dtype, np.integer):
        if arr.ndim != 1:
            raise TableError("only 1-D integer arrays (int vectors) can be written")
        arr = arr.astype(np.int32, copy=False)
    else:
        arr = _kaldi_array(arr)
    kaldiio.save_mat(f, arr)


def read_int_vectors(spec: PathLike) -> Iterator[Tuple[str, np.ndarray]]:
    """Iterate (utt, int32 vector), e.g. over ``exp/tri1_ali/ali.1.gz``."""
    for key, arr in read_table(spec):
        if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
            raise TableError(f"{_split_spec(spec)[1]}: entry '{key}' is not an int vector")
        yield key, arr.astype(np.int32, copy=False)


def write_int_vectors(path: PathLike, items: Iterable[Tuple[str, np.ndarray]]) -> int:
    """Write int32 vectors (alignments) as a Kaldi ark; ``ali.N.gz`` gets gzip'd."""
    return write_table(path, ((k, np.asarray(v, dtype=np.int32)) for k, v in items))
