"""Small OpenFST helpers over kaldifst's StdVectorFst that kaldifst lacks.

kaldifst has no fstrmsymbols and no Python arc iteration fast enough for big graphs,
so arcs are read from the FST's text form (``to_str``, fstprint's format).
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Iterable, Iterator, List, NamedTuple, Set, Union

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
    """Read an OpenFST binary StdVectorFst (vector or const) as a StdVectorFst.

    Raises:
        LangError: when ``path`` is missing or not a readable FST.
    """
    from kaldi_kd.kaldi.wheels import kaldifst

    path = Path(path)
    if not path.is_file():
        raise LangError(f"expected FST {path} to exist")
    try:
        fst = kaldifst.StdVectorFst.read(str(path))
    except Exception as e:  # the wheel may raise RuntimeError with OpenFST's message
        raise LangError(f"{path}: cannot read as an OpenFST StdVectorFst ({e})") from None
    if fst is None:  # OpenFST printed "Bad FST header" and returned null
        raise LangError(f"{path}: cannot read as an OpenFST StdVectorFst (bad header?)")
    return fst


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
