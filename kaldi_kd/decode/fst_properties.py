"""The OpenFst property bits Kaldi stores in a lattice's binary header.

A binary lattice starts with an OpenFst header whose 64-bit ``properties`` field says
what is known about the FST (acceptor, epsilons, sorted, top-sorted, ...).  Kaldi keeps
whatever its last operation computed; a lattice read from Kaldi's *text* form has the
bits that OpenFst's mutable-FST calls (AddState, SetStart, SetFinal, AddArc) leave after
the text reader built it line by line.  :func:`text_built_properties` replays those
calls over the lines of our own text form, so our binary bytes are the ones Kaldi writes
for the same lattice after ``lattice-copy ark,t:... ark:...``.

Bit values and the update rules are OpenFst's (``fst/properties.h``, 1.7.x).
"""

from __future__ import annotations

from typing import Iterable, List, Optional, Tuple

EXPANDED, MUTABLE, ERROR = 0x1, 0x2, 0x4
ACCEPTOR, NOT_ACCEPTOR = 1 << 16, 1 << 17
I_DETERMINISTIC, NON_I_DETERMINISTIC = 1 << 18, 1 << 19
O_DETERMINISTIC, NON_O_DETERMINISTIC = 1 << 20, 1 << 21
EPSILONS, NO_EPSILONS = 1 << 22, 1 << 23
I_EPSILONS, NO_I_EPSILONS = 1 << 24, 1 << 25
O_EPSILONS, NO_O_EPSILONS = 1 << 26, 1 << 27
I_LABEL_SORTED, NOT_I_LABEL_SORTED = 1 << 28, 1 << 29
O_LABEL_SORTED, NOT_O_LABEL_SORTED = 1 << 30, 1 << 31
WEIGHTED, UNWEIGHTED = 1 << 32, 1 << 33
CYCLIC, ACYCLIC = 1 << 34, 1 << 35
INITIAL_CYCLIC, INITIAL_ACYCLIC = 1 << 36, 1 << 37
TOP_SORTED, NOT_TOP_SORTED = 1 << 38, 1 << 39
ACCESSIBLE, NOT_ACCESSIBLE = 1 << 40, 1 << 41
CO_ACCESSIBLE, NOT_CO_ACCESSIBLE = 1 << 42, 1 << 43
STRING, NOT_STRING = 1 << 44, 1 << 45
WEIGHTED_CYCLES, UNWEIGHTED_CYCLES = 1 << 46, 1 << 47

STATIC = EXPANDED | MUTABLE  # a VectorFst
NULL = (ACCEPTOR | I_DETERMINISTIC | O_DETERMINISTIC | NO_EPSILONS | NO_I_EPSILONS | NO_O_EPSILONS
        | I_LABEL_SORTED | O_LABEL_SORTED | UNWEIGHTED | ACYCLIC | INITIAL_ACYCLIC | TOP_SORTED
        | ACCESSIBLE | CO_ACCESSIBLE | STRING | UNWEIGHTED_CYCLES)
_LABEL_BITS = (ACCEPTOR | NOT_ACCEPTOR | I_DETERMINISTIC | NON_I_DETERMINISTIC | O_DETERMINISTIC
               | NON_O_DETERMINISTIC | EPSILONS | NO_EPSILONS | I_EPSILONS | NO_I_EPSILONS | O_EPSILONS
               | NO_O_EPSILONS | I_LABEL_SORTED | NOT_I_LABEL_SORTED | O_LABEL_SORTED | NOT_O_LABEL_SORTED)
SET_START_KEEP = (EXPANDED | MUTABLE | ERROR | _LABEL_BITS | WEIGHTED | UNWEIGHTED | CYCLIC | ACYCLIC
                  | TOP_SORTED | NOT_TOP_SORTED | CO_ACCESSIBLE | NOT_CO_ACCESSIBLE | WEIGHTED_CYCLES
                  | UNWEIGHTED_CYCLES)
SET_FINAL_KEEP = (EXPANDED | MUTABLE | ERROR | _LABEL_BITS | CYCLIC | ACYCLIC | INITIAL_CYCLIC
                  | INITIAL_ACYCLIC | TOP_SORTED | NOT_TOP_SORTED | ACCESSIBLE | NOT_ACCESSIBLE
                  | WEIGHTED_CYCLES | UNWEIGHTED_CYCLES)
ADD_STATE_KEEP = (EXPANDED | MUTABLE | ERROR | _LABEL_BITS | WEIGHTED | UNWEIGHTED | CYCLIC | ACYCLIC
                  | INITIAL_CYCLIC | INITIAL_ACYCLIC | TOP_SORTED | NOT_TOP_SORTED | NOT_ACCESSIBLE
                  | NOT_CO_ACCESSIBLE | NOT_STRING | WEIGHTED_CYCLES | UNWEIGHTED_CYCLES)
ADD_ARC_KEEP = (EXPANDED | MUTABLE | ERROR | NOT_ACCEPTOR | NON_I_DETERMINISTIC | NON_O_DETERMINISTIC
                | EPSILONS | I_EPSILONS | O_EPSILONS | NOT_I_LABEL_SORTED | NOT_O_LABEL_SORTED | WEIGHTED
                | CYCLIC | INITIAL_CYCLIC | NOT_TOP_SORTED | ACCESSIBLE | CO_ACCESSIBLE | WEIGHTED_CYCLES)
_ADD_ARC_MASK = (ADD_ARC_KEEP | ACCEPTOR | NO_EPSILONS | NO_I_EPSILONS | NO_O_EPSILONS | I_LABEL_SORTED
                 | O_LABEL_SORTED | UNWEIGHTED | TOP_SORTED)

# One text line as the reader sees it: ("arc", src, ilabel, olabel, weighted, dst) or
# ("final", state, weight_kind) with weight_kind in {"zero", "one", "other"}.
Event = Tuple


class _Tracker:
    """The properties of a VectorFst under OpenFst's mutable-FST updates."""

    def __init__(self) -> None:
        self.props = NULL | STATIC
        self.num_states = 0
        self.finals: dict = {}
        self.last_arc: dict = {}

    def add_states_upto(self, s: int) -> None:
        while s >= self.num_states:
            self.num_states += 1
            self.props &= ADD_STATE_KEEP

    def set_start(self) -> None:
        out = self.props & SET_START_KEEP
        if self.props & ACYCLIC:
            out |= INITIAL_ACYCLIC
        self.props = out

    def set_final(self, s: int, kind: str) -> None:
        out = self.props
        if self.finals.get(s, "zero") == "other":
            out &= ~WEIGHTED
        if kind == "other":
            out = (out | WEIGHTED) & ~UNWEIGHTED
        self.props = out & (SET_FINAL_KEEP | WEIGHTED | UNWEIGHTED)
        self.finals[s] = kind

    def add_arc(self, s: int, il: int, ol: int, weighted: bool, d: int) -> None:
        out = self.props
        if il != ol:
            out = (out | NOT_ACCEPTOR) & ~ACCEPTOR
        if il == 0:
            out = (out | I_EPSILONS) & ~NO_I_EPSILONS
            if ol == 0:
                out = (out | EPSILONS) & ~NO_EPSILONS
        if ol == 0:
            out = (out | O_EPSILONS) & ~NO_O_EPSILONS
        prev: Optional[Tuple[int, int]] = self.last_arc.get(s)
        if prev is not None:
            if prev[0] > il:
                out = (out | NOT_I_LABEL_SORTED) & ~I_LABEL_SORTED
            if prev[1] > ol:
                out = (out | NOT_O_LABEL_SORTED) & ~O_LABEL_SORTED
        if weighted:
            out = (out | WEIGHTED) & ~UNWEIGHTED
        if d <= s:
            out = (out | NOT_TOP_SORTED) & ~TOP_SORTED
        out &= _ADD_ARC_MASK
        if out & TOP_SORTED:
            out |= ACYCLIC | INITIAL_ACYCLIC
        self.props = out
        self.last_arc[s] = (il, ol)


def text_built_properties(events: Iterable[Event]) -> int:
    """The properties a VectorFst has after Kaldi's text reader built it from these lines.

    Args:
        events: the printed lines in order (see ``Event``); the first line's state is the start.

    Returns:
        the 64-bit properties word (static bits kExpanded|kMutable included).
    """
    t = _Tracker()
    first = True
    for ev in events:
        s = ev[1]
        t.add_states_upto(s)
        if first:
            t.set_start()
            first = False
        if ev[0] == "arc":
            _, s, il, ol, weighted, d = ev
            t.add_arc(s, il, ol, weighted, d)
            t.add_states_upto(d)
        else:
            t.set_final(s, ev[2])
    return t.props

