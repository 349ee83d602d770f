"""Small OpenFST helpers over kaldifst's StdVectorFst that kaldifst lacks.

kaldifst has no fstrmsymbols and no Python arc iteration fast enough for big graphs,
so arcs are read from the FST's text form (``to_str``, fstprint's format).
"""

from __future__ import annotations

import struct
import tempfile
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, NamedTuple, Set, Union

import numpy as np

from kaldi_kd.gmm.symbols import LangError

PathLike = Union[str, Path]


class Arc(NamedTuple):
    """One arc: source state, input label, output label, weight (cost), next state."""

    src: int
    ilabel: int
    olabel: int
    weight: float
    dst: int


def read_fst(path: PathLike):
    """Read an OpenFST binary FST of standard arcs, ``vector`` or ``const``, as a StdVectorFst.

    Kaldi's ``utils/mkgraph.sh`` writes HCLG.fst as a ConstFst; G.fst and L.fst are vector
    FSTs.  kaldifst reads only the vector kind, so a ConstFst is rewritten as vector
    bytes first (:func:`const_to_vector_bytes`).

    Raises:
        LangError: when ``path`` is missing or not a readable FST.
    """
    from kaldi_kd.kaldi.wheels import kaldifst

    path = Path(path)
    if not path.is_file():
        raise LangError(f"expected FST {path} to exist")
    fst_type = _fst_type(path)
    if fst_type == "const":
        with tempfile.TemporaryDirectory() as tmp:
            vec = Path(tmp) / "vector.fst"
            vec.write_bytes(const_to_vector_bytes(path.read_bytes(), str(path)))
            return read_fst(vec)
    if fst_type != "vector":
        raise LangError(f"{path}: cannot read as an OpenFST graph (fst type {fst_type!r}; "
                        "expected 'vector' or 'const')")
    try:
        fst = kaldifst.StdVectorFst.read(str(path))
    except Exception as e:  # the wheel may raise RuntimeError with OpenFST's message
        raise LangError(f"{path}: cannot read as an OpenFST StdVectorFst ({e})") from None
    if fst is None:  # OpenFST printed "Bad FST header" and returned null
        raise LangError(f"{path}: cannot read as an OpenFST StdVectorFst (bad header?)")
    return fst


def write_const_fst(fst, path: PathLike) -> None:
    """Write ``fst`` as an OpenFst ConstFst, as Kaldi's ``utils/mkgraph.sh`` writes HCLG.fst
    (``fstconvert --fst_type=const``)."""
    from kaldi_kd.kaldi.wheels import kaldifst

    kaldifst.StdConstFst(fst).write(str(path))


class FstHeader(NamedTuple):
    """The fields of an OpenFst binary header and where the body starts."""

    fst_type: str
    arc_type: str
    version: int
    flags: int
    properties: int
    start: int
    num_states: int
    num_arcs: int
    body: int


def read_fst_header(data: bytes, name: str = "<fst>", offset: int = 0) -> FstHeader:
    """Parse the OpenFst header at ``data[offset:]``; ``body`` is the offset right after it.

    Raises:
        LangError: naming ``name`` when the magic number or the header is bad.
    """
    try:
        magic, n = struct.unpack_from("<ii", data, offset)
        if magic != FST_MAGIC:
            raise LangError(f"{name}: not an OpenFST binary FST (bad magic number)")
        pos = offset + 8
        if n < 0 or pos + n > len(data):
            raise struct.error("bad string length")
        fst_type = data[pos:pos + n].decode()
        pos += n
        (m,) = struct.unpack_from("<i", data, pos)
        if m < 0 or pos + 4 + m > len(data):
            raise struct.error("bad string length")
        arc_type = data[pos + 4:pos + 4 + m].decode()
        pos += 4 + m
        fields = struct.unpack_from(_HEADER_FIELDS, data, pos)
    except (struct.error, UnicodeDecodeError):
        raise LangError(f"{name}: not an OpenFST binary FST (truncated header)") from None
    return FstHeader(fst_type, arc_type, *fields, pos + struct.calcsize(_HEADER_FIELDS))


def vector_fst_header(arc_type: str, properties: int, start: int, num_states: int) -> bytes:
    """An OpenFst ``VectorFst`` header as VectorFst::Write writes it: version 2, no symbol
    tables, the number of arcs left 0 (it is not known before the states are written)."""
    parts = [struct.pack("<i", FST_MAGIC)]
    for t in ("vector", arc_type):
        parts.append(struct.pack("<i", len(t)) + t.encode())
    parts.append(struct.pack(_HEADER_FIELDS, 2, 0, properties, start, num_states, 0))
    return b"".join(parts)


def _fst_type(path: Path) -> str:
    with open(path, "rb") as f:
        return read_fst_header(f.read(512), str(path)).fst_type


def const_to_vector_bytes(data: bytes, name: str = "<fst>") -> bytes:
    """The bytes of the OpenFst VectorFst equal to the ConstFst ``data`` (standard arcs).

    ConstFst body: [aligned to 16 when the version is 1 or flags say aligned] one record per
    state (float final, uint32 first arc, uint32 arc count, uint32 input/output epsilon
    counts), [aligned] 16-byte arcs (int32 ilabel, int32 olabel, float weight, int32 next).
    """
    h = read_fst_header(data, name)
    if h.fst_type != "const" or h.arc_type != "standard":
        raise LangError(f"{name}: expected a const FST of standard arcs, not {h.fst_type}/{h.arc_type}")
    if h.flags & 0x3:
        raise LangError(f"{name}: FSTs with attached symbol tables are not supported")
    aligned = h.version == 1 or bool(h.flags & 0x4)
    pos = _align(h.body) if aligned else h.body
    states = np.frombuffer(data, dtype=_CONST_STATE, count=h.num_states, offset=pos)
    pos += states.nbytes
    pos = _align(pos) if aligned else pos
    if pos + 16 * h.num_arcs > len(data):
        raise LangError(f"{name}: truncated ConstFst (shorter than its header says)")
    arcs = data[pos:pos + 16 * h.num_arcs]
    props = (h.properties & _COPY_PROPERTIES) | 0x3  # kExpanded | kMutable
    out = [vector_fst_header("standard", props, h.start, h.num_states)]
    for final, first, n in zip(states["final"].tolist(), states["pos"].tolist(), states["narcs"].tolist()):
        out.append(struct.pack("<fq", final, n))
        out.append(arcs[16 * first:16 * (first + n)])
    return b"".join(out)


def _align(pos: int) -> int:
    return (pos + 15) // 16 * 16


FST_MAGIC = 2125659606
_HEADER_FIELDS = "<iiQqqq"  # version, flags, properties, start, states, arcs
_COPY_PROPERTIES = 0x0000FFFFFFFF0004  # kError | every trinary property
_CONST_STATE = np.dtype([("final", "<f4"), ("pos", "<u4"), ("narcs", "<u4"), ("nie", "<u4"), ("noe", "<u4")])


def fst_text(fst) -> List[List[str]]:
    """The FST's fstprint lines, split into fields (arcs have 4-5 fields, finals 1-2)."""
    return [line.split() for line in fst.to_str(show_weight_one=True).splitlines() if line]


def iter_arcs(fst) -> Iterator[Arc]:
    """Yield every arc of ``fst`` (in state order)."""
    for f in fst_text(fst):
        if len(f) >= 4:
            yield Arc(int(f[0]), int(f[2]), int(f[3]), float(f[4]) if len(f) > 4 else 0.0, int(f[1]))


def final_weights(fst) -> Dict[int, float]:
    """State -> final cost, for final states."""
    return {int(f[0]): (float(f[1]) if len(f) > 1 else 0.0) for f in fst_text(fst) if len(f) <= 2}


def input_labels(fst) -> Set[int]:
    """The set of input labels used on arcs."""
    return {a.ilabel for a in iter_arcs(fst)}


def output_labels(fst) -> Set[int]:
    """The set of output labels used on arcs."""
    return {a.olabel for a in iter_arcs(fst)}


def relabel_input(fst, mapping: Dict[int, int]):
    """Return a copy of ``fst`` with input labels mapped (unmapped labels kept).

    Goes through the text form: weights keep fstprint's 6 significant digits; use
    :func:`map_input_labels` for big graphs.

    With ``mapping = {d: 0 for d in disambig}`` this is Kaldi's
    ``fstrmsymbols disambig.int`` (disambiguation symbols become epsilons).
    """
    from kaldi_kd.kaldi.wheels import kaldifst

    out = kaldifst.StdVectorFst()
    n = fst.num_states
    for _ in range(n):
        out.add_state()
    if n == 0:
        return out
    out.start = fst.start
    for f in fst_text(fst):
        if len(f) >= 4:
            il = int(f[2])
            out.add_arc(int(f[0]), kaldifst.StdArc(mapping.get(il, il), int(f[3]),
                                                   float(f[4]) if len(f) > 4 else 0.0, int(f[1])))
        else:
            out.set_final(int(f[0]), float(f[1]) if len(f) > 1 else 0.0)
    return out


def map_input_labels(fst, labels: Iterable[int], mapping: Dict[int, int]):
    """Relabel input labels exactly (weights untouched) by composing with a 1-state mapper.

    Faster than :func:`relabel_input` on big graphs and keeps full weight precision:
    the mapper has one arc ``mapping.get(l, l):l`` per label ``l`` in ``labels`` (all
    non-epsilon input labels of ``fst`` must be listed), composed on the input side.
    With ``mapping = {d: 0 for d in disambig}`` this is ``fstrmsymbols disambig.int``.
    """
    from kaldi_kd.kaldi.wheels import kaldifst

    m = kaldifst.StdVectorFst()
    s = m.add_state()
    m.start = s
    m.set_final(s, 0.0)
    for lab in sorted(set(labels) - {0}):
        m.add_arc(s, kaldifst.StdArc(mapping.get(lab, lab), lab, 0.0, s))
    kaldifst.arcsort(m, sort_type="olabel")
    return kaldifst.compose(m, fst)


def is_sorted(fst, by: str = "olabel") -> bool:
    """Whether each state's arcs are sorted by ``by`` ("ilabel" or "olabel")."""
    prev_state, prev = -1, -1
    for a in iter_arcs(fst):
        lab = a.olabel if by == "olabel" else a.ilabel
        if a.src == prev_state and lab < prev:
            return False
        prev_state, prev = a.src, lab
    return True
