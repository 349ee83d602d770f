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
   are followed through per-state closures (best path from each raw state to each
   frontier state, computed once by dynamic programming).  When two paths reach the
   same raw state only the better one is kept (Viterbi; ties to the lower graph
   cost), which makes one path per word sequence carrying its best alignment.
   Each set is normalised: its best weight and the longest common string prefix
   move onto the incoming arc; sets are hashed with weights quantised by ``delta``;
3. pruning during determinization: sets are expanded best-first by forward cost
   plus an exact completion cost (A*), nothing beyond ``best + beam`` is expanded,
   and closure entries that cannot be on an in-beam path are dropped;
4. prune the result with ``beam`` (forward-backward) and renumber topologically.

The output has every word sequence whose best path is within ``beam`` of the best,
each with exactly that path's alignment and (graph, acoustic) costs, and every arc
lies on some path within ``beam`` (tests compare with brute-force enumeration).

Differences from Kaldi: no phone-level first pass (``DeterminizeLatticePhonePruned``
determinizes on phones first to bound memory; the word lattice is the same); Kaldi
prunes during determinization with its own forward/backward estimates, we use
A* with exact completion costs, with the same in-beam result; memory is bounded by
``max_states`` / ``max_raw_arcs`` with retries at a 25 % smaller beam, where Kaldi
(``--max-mem``) keeps a partial result pruned more tightly; no minimization
(Kaldi's ``--minimize`` is false by default in latgen); pure Python, so dense raw
lattices (10^4–10^5 states) take seconds.
"""

from __future__ import annotations

import heapq
import logging
from typing import Dict, List, Tuple

from kaldi_kd.decode.lattice import (
    INF, CompactLattice, Lattice, LatticeError, prune_compact, topological_order,
)

logger = logging.getLogger(__name__)

# element of a determinized state: raw state -> (graph, acoustic, tids)
Elem = Tuple[float, float, Tuple[int, ...]]


def _key(g: float, a: float, t: Tuple[int, ...]) -> tuple:
    return (g + a, g, len(t), t)


def prune_raw_lattice(lat: Lattice, beam: float) -> Lattice:
    """Keep the arcs of ``lat`` on a path within ``beam`` of its best path; renumber states
    in topological order (the start becomes state 0).

    Returns:
        the pruned lattice (empty, start -1, when no final state is reachable).
    """
    order = topological_order(lat.arcs, lat.start)
    alpha = {s: INF for s in order}
    if not order:
        return Lattice()
    alpha[lat.start] = 0.0
    for s in order:
        a_s = alpha[s]
        if a_s == INF:
            continue
        for (_, _, g, a, d) in lat.arcs[s]:
            if a_s + g + a < alpha[d]:
                alpha[d] = a_s + g + a
    beta = {}
    for s in reversed(order):
        fin = lat.finals.get(s)
        b = fin[0] + fin[1] if fin is not None else INF
        for (_, _, g, a, d) in lat.arcs[s]:
            if g + a + beta[d] < b:
                b = g + a + beta[d]
        beta[s] = b
    best = beta[lat.start]
    if best == INF:
        return Lattice()
    cutoff = best + beam
    keep = [s for s in order if alpha[s] + beta[s] <= cutoff]
    new_id = {s: i for i, s in enumerate(keep)}
    out = Lattice(arcs=[[] for _ in keep], start=0)
    for s in keep:
        for (il, ol, g, a, d) in lat.arcs[s]:
            if d in new_id and alpha[s] + g + a + beta[d] <= cutoff:
                out.arcs[new_id[s]].append((il, ol, g, a, new_id[d]))
        fin = lat.finals.get(s)
        if fin is not None and alpha[s] + fin[0] + fin[1] <= cutoff:
            out.finals[new_id[s]] = fin
    return out


class _Determinizer:
    """Pruned subset construction over a topologically numbered, pruned raw lattice.

    A determinized state is a set of *frontier* elements: raw states with word arcs
    or a final weight (as Kaldi's minimal subset representation), each with a
    residual (graph, acoustic, transition-ids).  The epsilon closure from a raw
    state to its frontier is computed once per state (``_closures``, dynamic
    programming backwards over the DAG, pruned with the beam) and reused.

    States are expanded best-first by ``forward cost + h`` where ``h`` (the best
    cost from the set's elements to a final state) is exact, so a state's forward
    cost is final when it is expanded (A* with a consistent heuristic) and nothing
    outside the beam is ever expanded.
    """

    def __init__(self, lat: Lattice, delta: float, max_states: int, beam: float):
        self.lat, self.delta, self.max_states = lat, delta, max_states
        self.words = [[(il, ol, g, a, d) for (il, ol, g, a, d) in arcs if ol != 0] for arcs in lat.arcs]
        self.beta = _backward_costs(lat)
        self.cutoff = self.beta[lat.start] + beam
        self.cf = _closures(lat, _forward_costs(lat), self.beta, self.cutoff)
        self.strings = _ClosureStrings(self.cf)
        self.out = CompactLattice()
        self.ids: Dict[tuple, int] = {}
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
        d = self.delta
        key = tuple(sorted((s, round(g / d), round(a / d), t) for s, (g, a, t) in norm.items()))
        fwd = fwd + gb + ab
        sid = self.ids.get(key)
        if sid is None:
            sid = self.out.add_state()
            if sid >= self.max_states:
                raise _TooBig()
            self.ids[key] = sid
            self.elems.append(norm)
            beta = self.beta
            self.h.append(min(g + a + beta[s] for s, (g, a, _) in norm.items()))
            self.fwd.append(fwd)
            heapq.heappush(self.heap, (fwd + self.h[sid], sid))
        elif fwd < self.fwd[sid]:
            self.fwd[sid] = fwd
            heapq.heappush(self.heap, (fwd + self.h[sid], sid))
        return sid, gb, ab, prefix

    def expand(self, sid: int) -> None:
        finals, beta, cutoff, cf = self.lat.finals, self.beta, self.cutoff, self.cf
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
                if fwd + g0 + g + a0 + a + beta[d] > cutoff:
                    continue
                cand = (g0 + g, a0 + a, t0 + (il,) if il else t0)
                dest = via.setdefault(ol, {})
                cur = dest.get(d)
                if cur is None or _key(*cand) < _key(*cur):
                    dest[d] = cand
        if best_fin is not None and fwd + best_fin[0] + best_fin[1] <= cutoff:
            self.out.set_final(sid, (best_fin[0], best_fin[1]), best_fin[2])
        strings = self.strings
        for w in sorted(via):
            best: Dict[int, tuple] = {}
            for d, (g1, a1, t1) in via[w].items():
                for f, (_, g2, a2, _, _) in cf[d].items():
                    gg, aa = g1 + g2, a1 + a2
                    cur = best.get(f)
                    if cur is None or (gg + aa, gg) < (cur[0] + cur[1], cur[0]) or (
                            (gg + aa, gg) == (cur[0] + cur[1], cur[0])
                            and _key(gg, aa, t1 + strings(d, f)) < _key(cur[0], cur[1], cur[2] + strings(cur[3], f))):
                        best[f] = (gg, aa, t1, d)
            elems: Dict[int, Elem] = {f: (gg, aa, t1 + strings(d, f)) for f, (gg, aa, t1, d) in best.items()}
            if elems:
                nid, g, a, prefix = self.state_for(elems, fwd)
                self.out.add_arc(sid, w, (g, a), prefix, nid)

    def run(self) -> CompactLattice:
        lat = self.lat
        start = {f: (g, a, self.strings(lat.start, f)) for f, (_, g, a, _, _) in self.cf[lat.start].items()}
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


def _closures(lat: Lattice, alpha: List[float], beta: List[float], cutoff: float) -> List[Dict[int, tuple]]:
    """Per raw state s: frontier state f -> (cost s~>f + beta[f], graph, acoustic, first
    ilabel, next state) of the best word-epsilon path s ~> f (next state -1 when f == s):
    a shortest-path tree per target, whose label strings :class:`_ClosureStrings`
    materialises on demand.

    Only entries that can lie on an in-beam path (alpha[s] + cost + beta[f] <= cutoff)
    are kept: the others are on no path the pruned output keeps.  Ties in cost go to
    the lower graph cost, then to the first path found.
    """
    n = lat.num_states
    cf: List[Dict[int, tuple]] = [dict() for _ in range(n)]
    for s in lat.finals:
        cf[s][s] = (beta[s], 0.0, 0.0, 0, -1)
    for s in range(n - 1, -1, -1):
        out = cf[s]
        get = out.get
        limit = cutoff - alpha[s]
        for (il, ol, g, a, e) in lat.arcs[s]:
            if ol != 0:
                out[s] = (beta[s], 0.0, 0.0, 0, -1)
                continue
            ga = g + a
            if ga + beta[e] > limit:  # every completion via e costs >= beta[e] (any sign)
                continue
            for f, (cb2, g2, a2, _, _) in cf[e].items():
                cb = ga + cb2
                if cb > limit:
                    continue
                cur = get(f)
                if cur is None or cb < cur[0] or (cb == cur[0] and g + g2 < cur[1]):
                    out[f] = (cb, g + g2, a + a2, il, e)
    return cf


class _ClosureStrings:
    """Transition-id strings of closure entries, built by following next-state links."""

    def __init__(self, cf: List[Dict[int, tuple]]):
        self.cf = cf
        self.cache: Dict[Tuple[int, int], Tuple[int, ...]] = {}

    def __call__(self, s: int, f: int) -> Tuple[int, ...]:
        key = (s, f)
        t = self.cache.get(key)
        if t is None:
            out = []
            cf = self.cf
            while s != f:
                _, _, _, il, e = cf[s][f]
                if il:
                    out.append(il)
                s = e
            t = self.cache[key] = tuple(out)
        return t


def _forward_costs(lat: Lattice) -> List[float]:
    """Best total cost from the start to each state (states numbered topologically)."""
    alpha = [INF] * lat.num_states
    alpha[lat.start] = 0.0
    for s in range(lat.num_states):
        a_s = alpha[s]
        if a_s == INF:
            continue
        for (_, _, g, a, d) in lat.arcs[s]:
            if a_s + g + a < alpha[d]:
                alpha[d] = a_s + g + a
    return alpha


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
            with it); past it the beam is reduced by 25 % until it fits.

    Returns:
        a CompactLattice with one path per word sequence within the beam, states in
        topological order; empty (start -1) when the input has no successful path.
    """
    while True:
        pruned = prune_raw_lattice(lat, beam)
        if pruned.start < 0:
            return CompactLattice()
        narcs = sum(len(a) for a in pruned.arcs)
        if narcs > max_raw_arcs and beam > 0.5:
            logger.warning("raw lattice has %d arcs within beam %.2f (> %d); retrying with beam %.2f",
                           narcs, beam, max_raw_arcs, beam * 0.75)
            beam = beam * 0.75 if beam != INF else 16.0
            continue
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
