"""Kaldi lattices in Python: the LatticeWeight semiring, raw and compact lattices, ops.

Kaldi's ``LatticeWeight`` is a pair (graph cost, acoustic cost) with

* Times: component-wise addition;
* Plus: the better of the two, where "better" is the lower total cost
  ``graph + acoustic``, ties broken by the lower graph cost (Kaldi's ``Compare``);
* Zero: (inf, inf), One: (0, 0).

A :class:`Lattice` is Kaldi's state-level lattice (input labels transition-ids,
output labels words, weight a LatticeWeight per arc).  A :class:`CompactLattice`
is the word-level acceptor Kaldi writes to ``lat.N.gz``: each arc carries a word,
a LatticeWeight and the transition-id string of its frames
(``CompactLatticeWeight``); final weights may carry strings too.

Ops for scoring mirror Kaldi's binaries: :func:`scale_lattice`
(``lattice-scale``), :func:`add_word_penalty` (``lattice-add-penalty``),
:func:`best_path` (``lattice-best-path``), :func:`prune_compact` (``lattice-prune``).
The I/O lives in :mod:`kaldi_kd.decode.lattice_io`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from kaldi_kd.errors import KaldiKdError

INF = math.inf

Weight = Tuple[float, float]  # (graph cost, acoustic cost)
ONE: Weight = (0.0, 0.0)
ZERO: Weight = (INF, INF)


class LatticeError(KaldiKdError, ValueError):
    """A lattice is malformed (cyclic where it must not be, no final state, ...)."""


def weight_key(g: float, a: float, string: Sequence[int] = ()) -> Tuple:
    """Sort key implementing Kaldi's order: a smaller key is a *better* weight.

    Total cost first, then graph cost, then (for CompactLatticeWeight) the shorter
    string, then the lexicographically smaller string.
    """
    return (g + a, g, len(string), tuple(string))


def better(w1: Weight, w2: Weight) -> bool:
    """True when ``w1`` is strictly better (Kaldi ``Compare(w1, w2) == 1``)."""
    return weight_key(*w1) < weight_key(*w2)


def plus(w1: Weight, w2: Weight) -> Weight:
    """Kaldi LatticeWeight Plus: the better of the two (w1 on ties)."""
    return w2 if better(w2, w1) else w1


def times(w1: Weight, w2: Weight) -> Weight:
    """Kaldi LatticeWeight Times: component-wise sum."""
    return (w1[0] + w2[0], w1[1] + w2[1])


# --------------------------------------------------------------------------
# state-level lattice

@dataclass
class Lattice:
    """A Kaldi state-level lattice.

    Attributes:
        arcs: per state a list of ``(ilabel, olabel, graph, acoustic, nextstate)``;
            ilabel is a transition-id (0 = epsilon), olabel a word id (0 = epsilon).
        finals: final state -> (graph, acoustic) final weight.
        start: the start state (-1 for an empty lattice).
    """

    arcs: List[List[Tuple[int, int, float, float, int]]] = field(default_factory=list)
    finals: Dict[int, Weight] = field(default_factory=dict)
    start: int = -1

    @property
    def num_states(self) -> int:
        return len(self.arcs)

    def add_state(self) -> int:
        self.arcs.append([])
        return len(self.arcs) - 1

    def add_arc(self, src: int, ilabel: int, olabel: int, weight: Weight, dst: int) -> None:
        self.arcs[src].append((int(ilabel), int(olabel), float(weight[0]), float(weight[1]), int(dst)))


@dataclass
class CompactLattice:
    """A Kaldi CompactLattice: a word acceptor with (LatticeWeight, transition-ids) weights.

    Attributes:
        arcs: per state a list of ``(word, graph, acoustic, tids, nextstate)`` with
            ``tids`` a tuple of transition-ids.
        finals: final state -> ``(graph, acoustic, tids)``.
        start: the start state (-1 for an empty lattice).
    """

    arcs: List[List[Tuple[int, float, float, Tuple[int, ...], int]]] = field(default_factory=list)
    finals: Dict[int, Tuple[float, float, Tuple[int, ...]]] = field(default_factory=dict)
    start: int = -1

    @property
    def num_states(self) -> int:
        return len(self.arcs)

    @property
    def num_arcs(self) -> int:
        return sum(len(a) for a in self.arcs)

    def add_state(self) -> int:
        self.arcs.append([])
        return len(self.arcs) - 1

    def add_arc(self, src: int, word: int, weight: Weight, tids: Sequence[int], dst: int) -> None:
        self.arcs[src].append((int(word), float(weight[0]), float(weight[1]),
                               tuple(int(t) for t in tids), int(dst)))

    def set_final(self, state: int, weight: Weight, tids: Sequence[int] = ()) -> None:
        self.finals[state] = (float(weight[0]), float(weight[1]), tuple(int(t) for t in tids))


# --------------------------------------------------------------------------
# graph helpers shared by both lattice kinds

def topological_order(arcs: Sequence[Sequence[tuple]], start: int, next_index: int = -1) -> List[int]:
    """States reachable from ``start`` in topological order (Kahn's algorithm).

    Args:
        arcs: per-state arc lists; ``arc[next_index]`` is the destination state.
        start: the start state.

    When the numbering is already topological (every arc goes to a higher state,
    as decoders and our determinizer produce) the states from ``start`` on are
    returned as numbered (when ``start`` is 0); unreachable ones may then be included (they have no
    finite forward cost).

    Raises:
        LatticeError: if the reachable part has a cycle.
    """
    if start < 0:
        return []
    if start == 0 and all(arc[next_index] > s for s in range(len(arcs)) for arc in arcs[s]):
        return list(range(len(arcs)))
    reach = [False] * len(arcs)
    stack = [start]
    reach[start] = True
    while stack:
        s = stack.pop()
        for arc in arcs[s]:
            d = arc[next_index]
            if not reach[d]:
                reach[d] = True
                stack.append(d)
    indeg = [0] * len(arcs)
    for s in range(len(arcs)):
        if reach[s]:
            for arc in arcs[s]:
                indeg[arc[next_index]] += 1
    order, queue = [], [start]
    while queue:
        s = queue.pop()
        order.append(s)
        for arc in arcs[s]:
            d = arc[next_index]
            indeg[d] -= 1
            if indeg[d] == 0:
                queue.append(d)
    if len(order) != sum(reach):
        raise LatticeError("lattice has a cycle; expected an acyclic lattice")
    return order


def compact_forward_backward(clat: CompactLattice, order: Optional[List[int]] = None
                             ) -> Tuple[Dict[int, float], Dict[int, float]]:
    """Best total cost from the start (alpha) and to a final state (beta) per state."""
    order = topological_order(clat.arcs, clat.start) if order is None else order
    alpha = {s: INF for s in order}
    if order:
        alpha[clat.start] = 0.0
    for s in order:
        a_s = alpha[s]
        if a_s == INF:
            continue
        for (_, g, a, _, d) in clat.arcs[s]:
            c = a_s + g + a
            if c < alpha[d]:
                alpha[d] = c
    beta = {s: INF for s in order}
    for s in reversed(order):
        fin = clat.finals.get(s)
        b = fin[0] + fin[1] if fin is not None else INF
        for (_, g, a, _, d) in clat.arcs[s]:
            c = g + a + beta[d]
            if c < b:
                b = c
        beta[s] = b
    return alpha, beta


# --------------------------------------------------------------------------
# ops used in scoring

def scale_lattice(clat: CompactLattice, graph_scale: float = 1.0,
                  acoustic_scale: float = 1.0) -> CompactLattice:
    """Scale costs like Kaldi's ``lattice-scale`` (``--inv-acoustic-scale=LMWT`` is
    ``acoustic_scale=1/LMWT``)."""
    out = CompactLattice(start=clat.start)
    out.arcs = [[(w, g * graph_scale, a * acoustic_scale, t, d) for (w, g, a, t, d) in arcs]
                for arcs in clat.arcs]
    out.finals = {s: (g * graph_scale, a * acoustic_scale, t) for s, (g, a, t) in clat.finals.items()}
    return out


def add_word_penalty(clat: CompactLattice, penalty: float) -> CompactLattice:
    """Add ``penalty`` to the graph cost of every word arc (Kaldi's ``lattice-add-penalty``)."""
    out = CompactLattice(start=clat.start, finals=dict(clat.finals))
    out.arcs = [[(w, g + penalty if w != 0 else g, a, t, d) for (w, g, a, t, d) in arcs]
                for arcs in clat.arcs]
    return out


@dataclass
class BestPath:
    """The best path of a lattice: words, per-frame transition-ids and its two costs."""

    words: List[int]
    alignment: List[int]
    graph_cost: float
    acoustic_cost: float

    @property
    def total_cost(self) -> float:
        return self.graph_cost + self.acoustic_cost


def best_path(clat: CompactLattice, acoustic_scale: float = 1.0, word_penalty: float = 0.0,
              order: Optional[List[int]] = None) -> Optional[BestPath]:
    """The lowest-cost path (Kaldi's ``lattice-best-path``) under an optional scaling.

    The path is chosen by ``graph + word_penalty * (word arcs) + acoustic_scale * acoustic``;
    the returned costs are the *unscaled* costs of the chosen path.

    Returns:
        the best path, or None when no final state is reachable.
    """
    order = topological_order(clat.arcs, clat.start) if order is None else order
    if not order:
        return None
    cost = {clat.start: 0.0}
    back: Dict[int, Tuple[int, int]] = {}
    for s in order:
        c_s = cost.get(s)
        if c_s is None:
            continue
        for i, (w, g, a, _, d) in enumerate(clat.arcs[s]):
            c = c_s + g + acoustic_scale * a + (word_penalty if w != 0 else 0.0)
            if c < cost.get(d, INF):
                cost[d] = c
                back[d] = (s, i)
    best_s, best_c = -1, INF
    for s, (g, a, _) in clat.finals.items():
        if s in cost:
            c = cost[s] + g + acoustic_scale * a
            if c < best_c:
                best_s, best_c = s, c
    if best_s < 0:
        return None
    fg, fa, ft = clat.finals[best_s]
    words: List[int] = []
    segs: List[Tuple[int, ...]] = [ft]
    gsum, asum = fg, fa
    s = best_s
    while s != clat.start:
        p, i = back[s]
        w, g, a, t, _ = clat.arcs[p][i]
        if w != 0:
            words.append(w)
        segs.append(t)
        gsum += g
        asum += a
        s = p
    words.reverse()
    ali = [t for seg in reversed(segs) for t in seg]
    return BestPath(words, ali, gsum, asum)


def prune_compact(clat: CompactLattice, beam: float) -> CompactLattice:
    """Keep arcs and finals on some path within ``beam`` of the best (``lattice-prune``).

    The result is connected and its states renumbered in topological order.
    """
    order = topological_order(clat.arcs, clat.start)
    alpha, beta = compact_forward_backward(clat, order)
    if not order or beta[clat.start] == INF:
        return CompactLattice()
    cutoff = beta[clat.start] + beam
    keep = [s for s in order if alpha[s] + beta[s] <= cutoff]
    new_id = {s: i for i, s in enumerate(keep)}
    out = CompactLattice(arcs=[[] for _ in keep], start=0)
    for s in keep:
        for (w, g, a, t, d) in clat.arcs[s]:
            if d in new_id and alpha[s] + g + a + beta[d] <= cutoff:
                out.arcs[new_id[s]].append((w, g, a, t, new_id[d]))
        fin = clat.finals.get(s)
        if fin is not None and alpha[s] + fin[0] + fin[1] <= cutoff:
            out.finals[new_id[s]] = fin
    return out


def linear_compact_lattice(words: Sequence[int], alignment: Sequence[int],
                           graph_cost: float, acoustic_cost: float) -> CompactLattice:
    """A one-path CompactLattice (used when a decoder gives only a best path).

    Frames are attached to the word arcs in order: word i gets the transition-ids up
    to the next word; the costs go on the first arc (or the final weight when there are
    no words).  Word boundaries inside the alignment are not known, so frames are split
    evenly; the word sequence, total costs and full alignment are exact.
    """
    clat = CompactLattice()
    s = clat.add_state()
    clat.start = s
    n = len(words)
    if n == 0:
        clat.set_final(s, (graph_cost, acoustic_cost), alignment)
        return clat
    bounds = [round(i * len(alignment) / n) for i in range(n + 1)]
    for i, w in enumerate(words):
        d = clat.add_state()
        wt = (graph_cost, acoustic_cost) if i == 0 else ONE
        clat.add_arc(s, w, wt, alignment[bounds[i]:bounds[i + 1]], d)
        s = d
    clat.set_final(s, ONE)
    return clat


def lattice_word_sequences(clat: CompactLattice, limit: int = 100000) -> Dict[Tuple[int, ...], Weight]:
    """All word sequences of an acyclic CompactLattice with their best (graph, acoustic).

    Meant for tests and small lattices; raises LatticeError past ``limit`` paths.
    """
    out: Dict[Tuple[int, ...], Weight] = {}
    stack = [(clat.start, (), 0.0, 0.0)] if clat.start >= 0 else []
    n = 0
    while stack:
        s, ws, g, a = stack.pop()
        fin = clat.finals.get(s)
        if fin is not None:
            n += 1
            if n > limit:
                raise LatticeError(f"more than {limit} paths")
            w = (g + fin[0], a + fin[1])
            if ws not in out or better(w, out[ws]):
                out[ws] = w
        for (word, ag, aa, _, d) in clat.arcs[s]:
            stack.append((d, ws + ((word,) if word else ()), g + ag, a + aa))
    return out


def raw_best_path(lat: Lattice) -> Optional[BestPath]:
    """The best path of a state-level lattice (for checks against its determinized form)."""
    order = topological_order(lat.arcs, lat.start)
    if not order:
        return None
    cost: Dict[int, Tuple[float, float]] = {lat.start: (0.0, 0.0)}
    back: Dict[int, Tuple[int, int]] = {}
    for s in order:
        if s not in cost:
            continue
        gs, as_ = cost[s]
        for i, (il, ol, g, a, d) in enumerate(lat.arcs[s]):
            w = (gs + g, as_ + a)
            if d not in cost or better(w, cost[d]):
                cost[d] = w
                back[d] = (s, i)
    best_s, best_w = -1, ZERO
    for s, fw in lat.finals.items():
        if s in cost:
            w = times(cost[s], fw)
            if best_s < 0 or better(w, best_w):
                best_s, best_w = s, w
    if best_s < 0:
        return None
    words, ali = [], []
    s = best_s
    while s != lat.start:
        p, i = back[s]
        il, ol, _, _, _ = lat.arcs[p][i]
        if ol:
            words.append(ol)
        if il:
            ali.append(il)
        s = p
    return BestPath(words[::-1], ali[::-1], best_w[0], best_w[1])

