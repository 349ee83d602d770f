"""Word-level determinization of raw state-level lattices (like ``lattice-determinize-pruned``).

:func:`determinize_lattice_pruned` turns a decoder's raw :class:`Lattice`
(transition-id input labels, word output labels, (graph, acoustic) weights) into a
:class:`CompactLattice` with exactly one path per word sequence: that word
sequence's best path (lowest graph + acoustic cost, ties to the lower graph cost),
carrying its alignment (transition-id string) and both costs.

Algorithm (subset construction in the CompactLatticeWeight semiring, as Kaldi's
``LatticeDeterminizer``):

1. prune the raw lattice to arcs on paths within ``beam`` of the best path
   (forward-backward, Kaldi's ``PruneLattice``); states renumbered topologically;
2. determinize on words: a determinized state is a set of (raw state, residual
   weight, residual transition-id string) restricted to raw states with word arcs
   or a final weight (Kaldi's minimal subset representation).  Word-epsilon paths
   are followed by an on-the-fly closure of each successor set (best path from the
   set to each frontier state, Viterbi in topological order, not pruned, so that a
   set of raw states gives the same subset from whichever state it is reached and
   such states merge).  When two paths reach the same raw state only the better
   one is kept (Viterbi; ties to the lower graph cost), which makes one path per
   word sequence carrying its best alignment.  Each set is normalised: its best
   weight and the longest common string prefix move onto the incoming arc; two sets
   are the same state when they have the same raw states with the same strings and
   total weights within ``delta`` (Kaldi's rule);
3. pruning during determinization: sets are expanded best-first by forward cost
   plus an exact completion cost (A*), nothing beyond ``best + beam`` is expanded,
   and a word's arcs out of a set are followed only when the best of them lies on a
   path within the beam (Kaldi's "task" pruning);
4. prune the result with ``beam`` (forward-backward) and renumber topologically.

The output has every word sequence whose best path is within ``beam`` of the best,
each with exactly that path's alignment and (graph, acoustic) costs, and every arc
lies on some path within ``beam`` (tests compare with brute-force enumeration).
Its states are those of Kaldi's ``lattice-determinize-pruned`` on the same raw lattice
(checked on decoder lattices), so out-of-beam combinations of arcs, which count for
oracle error rates and for best paths at other LM weights, are Kaldi's too.

Differences from Kaldi: no phone-level first pass here (the compiled version,
:func:`determinize_lattice_compiled`, has Kaldi's two-pass
``DeterminizeLatticePhonePruned`` as an option); memory is bounded by
``max_states`` / ``max_raw_arcs`` with retries at a 25 % smaller beam, where Kaldi
(``--max-mem``) keeps a partial result pruned more tightly; no minimization
(Kaldi's ``--minimize`` is false by default in latgen); pure Python, so dense raw
lattices (10^4–10^5 states) take seconds.
"""

from __future__ import annotations

import heapq
import logging
from typing import Dict, List, Optional, Tuple

import numpy as np

from kaldi_kd.decode.lattice import (
    INF, CompactLattice, Lattice, LatticeError, prune_compact, topological_order,
)

logger = logging.getLogger(__name__)

# element of a determinized state: raw state -> (graph, acoustic, tids)
Elem = Tuple[float, float, Tuple[int, ...]]


def _key(g: float, a: float, t: Tuple[int, ...]) -> tuple:
    return (g + a, g, len(t), t)


def prune_raw_lattice(lat: Lattice, beam: float, max_arcs: Optional[int] = None) -> Tuple[Lattice, float]:
    """Keep the arcs of ``lat`` on a path within ``beam`` of its best path; renumber states
    in topological order (the start becomes state 0).

    Args:
        max_arcs: when more arcs than this are within ``beam``, the beam is tightened
            to the largest one keeping at most ``max_arcs`` arcs (best arcs first, as
            Kaldi's ``--max-arcs``), with a warning.  One forward-backward pass serves
            both.

    Returns:
        (the pruned lattice, the beam used); the lattice is empty (start -1) when no
        final state is reachable.
    """
    order = topological_order(lat.arcs, lat.start)
    if not order:
        return Lattice(), beam
    n = len(order)
    pos = [-1] * lat.num_states
    for i, s in enumerate(order):
        pos[s] = i
    # the reachable part renumbered topologically, then list-based forward-backward
    arcs = [[(il, ol, g, a, pos[d]) for (il, ol, g, a, d) in lat.arcs[s]] for s in order]
    finals = {pos[s]: w for s, w in lat.finals.items() if pos[s] >= 0}
    alpha = [INF] * n
    alpha[0] = 0.0
    for s in range(n):
        a_s = alpha[s]
        if a_s == INF:
            continue
        for (_, _, g, a, d) in arcs[s]:
            c = a_s + g + a
            if c < alpha[d]:
                alpha[d] = c
    beta = [INF] * n
    for s in range(n - 1, -1, -1):
        fin = finals.get(s)
        b = fin[0] + fin[1] if fin is not None else INF
        for (_, _, g, a, d) in arcs[s]:
            c = g + a + beta[d]
            if c < b:
                b = c
        beta[s] = b
    if beta[0] == INF:
        return Lattice(), beam
    best = beta[0]
    if max_arcs is not None and sum(len(x) for x in arcs) > max_arcs:
        # best-path cost through each arc, relative to the best path
        through = [alpha[s] + g + a + beta[d] - best for s in range(n) for (_, _, g, a, d) in arcs[s]]
        within = sum(1 for c in through if c <= beam)
        if within > max_arcs:
            tight = float(np.partition(np.asarray(through), max_arcs - 1)[max_arcs - 1])
            tight = min(tight, beam)
            logger.warning("raw lattice has %d arcs within beam %.2f (> max %d): lattice beam "
                           "tightened to %.2f for this utterance", within, beam, max_arcs, tight)
            beam = tight
    cutoff = best + beam
    keep = [s for s in range(n) if alpha[s] + beta[s] <= cutoff]
    new_id = [-1] * n
    for i, s in enumerate(keep):
        new_id[s] = i
    out = Lattice(arcs=[[] for _ in keep], start=0)
    for s in keep:
        a_s = alpha[s]
        out.arcs[new_id[s]] = [(il, ol, g, a, new_id[d]) for (il, ol, g, a, d) in arcs[s]
                               if new_id[d] >= 0 and a_s + g + a + beta[d] <= cutoff]
        fin = finals.get(s)
        if fin is not None and a_s + fin[0] + fin[1] <= cutoff:
            out.finals[new_id[s]] = fin
    return out, beam


class _Determinizer:
    """Pruned subset construction over a topologically numbered, pruned raw lattice.

    A determinized state is a set of *frontier* elements: raw states with word arcs
    or a final weight (as Kaldi's minimal subset representation), each with a
    residual (graph, acoustic, transition-ids).  The word-epsilon closure of a
    successor set is computed on the fly (:meth:`closure`: Viterbi over the DAG in
    topological order from the set's raw states, pruned with the set's own forward
    cost and the exact completion costs), as Kaldi's determinizer does, so only raw
    states near an in-beam determinized state are ever visited.

    States are expanded best-first by ``forward cost + h`` where ``h`` (the best
    cost from the set's elements to a final state) is exact, so a state's forward
    cost is final when it is expanded (A* with a consistent heuristic) and nothing
    outside the beam is ever expanded.
    """

    def __init__(self, lat: Lattice, delta: float, max_states: int, beam: float):
        self.lat, self.delta, self.max_states = lat, delta, max_states
        self.words = [[(il, ol, g, a, d) for (il, ol, g, a, d) in arcs if ol != 0] for arcs in lat.arcs]
        self.eps = [[(il, g, a, d) for (il, ol, g, a, d) in arcs if ol == 0] for arcs in lat.arcs]
        self.frontier = [bool(w) or s in lat.finals for s, w in enumerate(self.words)]
        self.beta = _backward_costs(lat)
        self.cutoff = self.beta[lat.start] + beam
        self.visited = 0  # raw states visited by closures (work measure)
        self.out = CompactLattice()
        self.ids: Dict[tuple, List[int]] = {}
        self.elems: List[Dict[int, Elem]] = []
        self.fwd: List[float] = []
        self.h: List[float] = []
        self.heap: List[Tuple[float, int]] = []

    def state_for(self, elems: Dict[int, Elem], fwd: float) -> Tuple[int, float, float, Tuple[int, ...]]:
        """Normalise ``elems`` reached with forward cost ``fwd`` (excluding the divisor);
        return (det state, divisor graph, divisor acoustic, common prefix)."""
        best = min(elems.values(), key=lambda e: _key(*e))
        gb, ab = best[0], best[1]
        strings = [e[2] for e in elems.values()]
        prefix = strings[0]
        for t in strings[1:]:
            if not prefix:
                break
            if t[:len(prefix)] == prefix:
                continue
            n = 0
            m = min(len(prefix), len(t))
            while n < m and prefix[n] == t[n]:
                n += 1
            prefix = prefix[:n]
        k = len(prefix)
        norm = {s: (g - gb, a - ab, t[k:]) for s, (g, a, t) in elems.items()}
        # Kaldi's subset identity: the same states with the same strings, and total
        # residual weights within delta of each other
        key = tuple(sorted((s, t) for s, (_, _, t) in norm.items()))
        fwd = fwd + gb + ab
        sid = None
        for cand in self.ids.setdefault(key, []):
            other = self.elems[cand]
            if all(abs((g + a) - (other[s][0] + other[s][1])) <= self.delta for s, (g, a, _) in norm.items()):
                sid = cand
                break
        if sid is None:
            sid = self.out.add_state()
            if sid >= self.max_states:
                raise _TooBig()
            self.ids[key].append(sid)
            self.elems.append(norm)
            beta = self.beta
            self.h.append(min(g + a + beta[s] for s, (g, a, _) in norm.items()))
            self.fwd.append(fwd)
            heapq.heappush(self.heap, (fwd + self.h[sid], sid))
        elif fwd < self.fwd[sid]:
            self.fwd[sid] = fwd
            heapq.heappush(self.heap, (fwd + self.h[sid], sid))
        return sid, gb, ab, prefix

    def closure(self, sources: Dict[int, Elem]) -> Dict[int, Elem]:
        """Frontier elements reached from ``sources`` (raw state -> residual) over
        word-epsilon arcs: the best path to each (ties to the lower graph cost, then the
        first found).  Not pruned (the raw lattice is): the subset of a set of sources is
        then the same whichever determinized state they are reached from, so such states
        merge, as in Kaldi's determinizer."""
        eps, frontier = self.eps, self.frontier
        best: Dict[int, tuple] = {d: (g, a, -1, 0) for d, (g, a, _) in sources.items()}
        heap: List[int] = list(best)
        heapq.heapify(heap)
        out: Dict[int, Elem] = {}
        while heap:  # states are numbered topologically: pop order is a topological order
            s = heapq.heappop(heap)
            g, a, _, _ = best[s]
            self.visited += 1
            if frontier[s]:
                out[s] = (g, a, self._string(best, sources, s))
            for (il, ag, aa, e) in eps[s]:
                ng, na = g + ag, a + aa
                cur = best.get(e)
                if cur is None:
                    best[e] = (ng, na, s, il)
                    heapq.heappush(heap, e)
                elif ng + na < cur[0] + cur[1] or (ng + na == cur[0] + cur[1] and ng < cur[0]):
                    best[e] = (ng, na, s, il)
        return out

    @staticmethod
    def _string(best: Dict[int, tuple], sources: Dict[int, Elem], s: int) -> Tuple[int, ...]:
        """Transition-ids of the best path to ``s`` (back-pointers to a source)."""
        rev = []
        while True:
            _, _, prev, il = best[s]
            if prev < 0:
                break
            if il:
                rev.append(il)
            s = prev
        return sources[s][2] + tuple(reversed(rev))

    def expand(self, sid: int) -> None:
        finals, beta, cutoff = self.lat.finals, self.beta, self.cutoff
        fwd = self.fwd[sid]
        best_fin = None
        via: Dict[int, Dict[int, Elem]] = {}  # word -> word-arc destination -> best
        for s, (g0, a0, t0) in self.elems[sid].items():
            fin = finals.get(s)
            if fin is not None:
                cand = (g0 + fin[0], a0 + fin[1], t0)
                if best_fin is None or _key(*cand) < _key(*best_fin):
                    best_fin = cand
            for (il, ol, g, a, d) in self.words[s]:
                cand = (g0 + g, a0 + a, t0 + (il,) if il else t0)
                dest = via.setdefault(ol, {})
                cur = dest.get(d)
                if cur is None or _key(*cand) < _key(*cur):
                    dest[d] = cand
        if best_fin is not None and fwd + best_fin[0] + best_fin[1] <= cutoff:
            self.out.set_final(sid, (best_fin[0], best_fin[1]), best_fin[2])
        for w in sorted(via):
            # all arcs with this word; their best path must be within the beam
            if fwd + min(g + a + beta[d] for d, (g, a, _) in via[w].items()) > cutoff:
                continue
            elems = self.closure(via[w])
            if elems:
                nid, g, a, prefix = self.state_for(elems, fwd)
                self.out.add_arc(sid, w, (g, a), prefix, nid)

    def run(self) -> CompactLattice:
        lat = self.lat
        start = self.closure({lat.start: (0.0, 0.0, ())})
        sid, g, a, prefix = self.state_for(start, 0.0)
        self.out.start = sid
        done = set()
        while self.heap:
            prio, s = heapq.heappop(self.heap)
            if s in done or prio > self.fwd[s] + self.h[s] + 1e-9:
                continue  # expanded already, or a stale entry
            if prio > self.cutoff:
                break
            done.add(s)
            self.expand(s)
        if g != 0.0 or a != 0.0 or prefix:
            # the start set's divisor belongs on every path
            _premultiply_start(self.out, g, a, prefix)
        return self.out


def _backward_costs(lat: Lattice) -> List[float]:
    """Best total cost from each state to a final state (states numbered topologically)."""
    beta = [INF] * lat.num_states
    for s in range(lat.num_states - 1, -1, -1):
        fin = lat.finals.get(s)
        b = fin[0] + fin[1] if fin is not None else INF
        for (_, _, g, a, d) in lat.arcs[s]:
            c = g + a + beta[d]
            if c < b:
                b = c
        beta[s] = b
    return beta


class _TooBig(Exception):
    pass


def _premultiply_start(clat: CompactLattice, g: float, a: float, prefix: Tuple[int, ...]) -> None:
    """Left-multiply every path by (g, a, prefix) via a fresh start state's arcs."""
    old = clat.start
    new = clat.add_state()
    clat.start = new
    for (w, ag, aa, t, d) in clat.arcs[old]:
        clat.arcs[new].append((w, ag + g, aa + a, prefix + t, d))
    fin = clat.finals.get(old)
    if fin is not None:
        clat.finals[new] = (fin[0] + g, fin[1] + a, prefix + fin[2])


def determinize_lattice_pruned(lat: Lattice, beam: float = 8.0, delta: float = 1.0 / 1024,
                               max_states: int = 200000, max_raw_arcs: int = 150000) -> CompactLattice:
    """Determinize a raw lattice on words with lattice-beam pruning (see module doc).

    Args:
        lat: raw state-level lattice (acyclic).
        beam: lattice beam (Kaldi's ``--lattice-beam``); ``inf`` for no pruning.
        delta: weight quantisation used to merge determinized states (Kaldi ``--delta``).
        max_states: bound on output states; past it the beam is reduced by 25 % and the
            determinization retried (in the spirit of Kaldi's ``--max-mem``).
        max_raw_arcs: bound on the pruned raw lattice's arcs (the closure work grows
            with it); past it the beam is tightened to keep the best ``max_raw_arcs``
            arcs (see :func:`prune_raw_lattice`), with a warning.

    Returns:
        a CompactLattice with one path per word sequence within the beam, states in
        topological order; empty (start -1) when the input has no successful path.
    """
    while True:
        pruned, beam = prune_raw_lattice(lat, beam, max_raw_arcs)
        if pruned.start < 0:
            return CompactLattice()
        try:
            clat = _Determinizer(pruned, delta, max_states, beam).run()
        except _TooBig:
            if beam < 0.5:
                raise LatticeError(f"determinization exceeds {max_states} states even at beam {beam}")
            logger.warning("determinization exceeded %d states at beam %.2f; retrying with beam %.2f",
                           max_states, beam, beam * 0.75)
            beam = beam * 0.75 if beam != INF else 16.0
            continue
        return prune_compact(clat, beam)


def lattice_to_compact(lat: Lattice) -> CompactLattice:
    """Convert a raw lattice to a CompactLattice *without* determinizing (Kaldi's
    ``ConvertLattice``): every arc becomes a one-label arc; word-epsilon arcs keep word 0."""
    clat = CompactLattice(arcs=[[] for _ in range(lat.num_states)], start=lat.start)
    for s, arcs in enumerate(lat.arcs):
        clat.arcs[s] = [(ol, g, a, (il,) if il else (), d) for (il, ol, g, a, d) in arcs]
    clat.finals = {s: (g, a, ()) for s, (g, a) in lat.finals.items()}
    return clat


def determinize_lattice_compiled(lat: Lattice, beam: float = 8.0, delta: float = 1.0 / 1024,
                                 max_states: int = 200000, max_raw_arcs: int = 150000) -> CompactLattice:
    """:func:`determinize_lattice_pruned` in compiled code (``kaldi_kd/decode/csrc``, the same
    algorithm; the decoder runs it on its raw lattices without leaving C++).  Costs come
    back as float32 values, as Kaldi stores them.

    Raises:
        ValueError: the lattice has a cycle, or stays too big even at a small beam.
    """
    from kaldi_kd.decode import _latgen

    raw = _latgen.raw_lattice(lat.start, lat.arcs, lat.finals)
    start, arcs, finals, _ = raw.determinize(beam, delta=delta, max_states=max_states, max_raw_arcs=max_raw_arcs)
    return CompactLattice(arcs=arcs, finals=finals, start=start)
