"""One Kaldi lattice <-> bytes: the binary (OpenFst) and text forms of Lattice and CompactLattice.

These are the forms Kaldi's lattice holders write after ``key + " "`` in an archive
(``kaldi-lattice.cc``); the table framing lives in :mod:`kaldi_kd.decode.lattice_io`.

Binary: an OpenFst ``VectorFst`` — header (int32 magic 2125659606, string "vector",
string arc type "compactlattice44" or "lattice4", int32 version 2, int32 flags 0,
uint64 properties, int64 start, int64 number of states, int64 number of arcs = 0), then
per state the final weight, an int64 arc count and the arcs (int32 ilabel, int32
olabel, weight, int32 next state).  A LatticeWeight is two float32 costs (graph,
acoustic); a CompactLatticeWeight adds an int32 count and that many int32
transition-ids.  All little-endian.  There is *no* ``\\0B`` marker: Kaldi tells binary
from text by the first byte (0xd6, the magic's low byte, vs. a newline).  The properties
written are those Kaldi's text reader leaves (:mod:`kaldi_kd.decode.fst_properties`), so
our bytes equal ``lattice-copy ark,t:ours ark:-``.

Text: ``"\\n"``, then OpenFst's printer with tab separators (start state first, then
the others in order; per state its arcs, then its final weight, weights equal to One
left out), then an empty line.  CompactLattice arcs are ``src dst word [g,a,t1_t2...]``,
Lattice arcs ``src dst tid word [g,a]``; costs printed as C++ ``<<`` prints a float
(``%g``, 6 digits; ``Infinity``).

Conversions follow Kaldi's ``ConvertLattice``: :func:`compact_to_lattice` expands each
transition-id string into a chain of arcs numbered after the original states.
"""

from __future__ import annotations

import math
import struct
from typing import List, Optional, Sequence, Tuple

import numpy as np

from kaldi_kd.decode import fst_properties
from kaldi_kd.decode.lattice import INF, CompactLattice, Lattice
from kaldi_kd.errors import KaldiKdError
from kaldi_kd.gmm.fstutils import read_fst_header, vector_fst_header
from kaldi_kd.gmm.symbols import LangError

BINARY_FIRST_BYTE = 0xD6  # the OpenFst magic's first byte on little-endian machines
COMPACT_ARC_TYPE = "compactlattice44"
LATTICE_ARC_TYPE = "lattice4"


class LatticeIOError(KaldiKdError, ValueError):
    """A lattice or lattice table could not be read or written; the message names the file/key."""


# --------------------------------------------------------------------------
# printing (text form and the event list the properties come from)

def _print_order(num_states: int, start: int) -> List[int]:
    return [] if start < 0 else [start] + [s for s in range(num_states) if s != start]


def _fmt(x: float) -> str:
    if x == INF:
        return "Infinity"
    if x == -INF:
        return "-Infinity"
    if x != x:
        return "BadNumber"
    return f"{float(np.float32(x)):.6g}"


def _lw_text(g: float, a: float) -> str:
    return f"{_fmt(g)},{_fmt(a)}"


def _cw_text(g: float, a: float, tids: Sequence[int]) -> str:
    return f"{_lw_text(g, a)}," + "_".join(str(t) for t in tids)


def _kind(g: float, a: float, tids: Sequence[int] = ()) -> str:
    if tids:
        return "other"
    if g == 0.0 and a == 0.0:
        return "one"
    return "zero" if g == INF else "other"


def _compact_lines(clat: CompactLattice) -> List[Tuple[str, tuple]]:
    out = []
    for s in _print_order(clat.num_states, clat.start):
        for (w, g, a, t, d) in clat.arcs[s]:
            one = _kind(g, a, t) == "one"
            line = f"{s}\t{d}\t{w}" if one else f"{s}\t{d}\t{w}\t{_cw_text(g, a, t)}"
            out.append((line, ("arc", s, w, w, not one, d)))
        fin = clat.finals.get(s)
        if fin is not None or not clat.arcs[s]:
            g, a, t = fin if fin is not None else (INF, INF, ())
            kind = _kind(g, a, t)
            out.append((f"{s}" if kind == "one" else f"{s}\t{_cw_text(g, a, t)}", ("final", s, kind)))
    return out


def _lattice_lines(lat: Lattice) -> List[Tuple[str, tuple]]:
    out = []
    for s in _print_order(lat.num_states, lat.start):
        for (il, ol, g, a, d) in lat.arcs[s]:
            one = _kind(g, a) == "one"
            line = f"{s}\t{d}\t{il}\t{ol}" if one else f"{s}\t{d}\t{il}\t{ol}\t{_lw_text(g, a)}"
            out.append((line, ("arc", s, il, ol, not one, d)))
        fin = lat.finals.get(s)
        if fin is not None or not lat.arcs[s]:
            g, a = fin if fin is not None else (INF, INF)
            kind = _kind(g, a)
            out.append((f"{s}" if kind == "one" else f"{s}\t{_lw_text(g, a)}", ("final", s, kind)))
    return out


def compact_lattice_to_text(clat: CompactLattice) -> str:
    """Kaldi's text form of a CompactLattice after the key: newline, lines, empty line."""
    return "\n" + "".join(line + "\n" for line, _ in _compact_lines(clat)) + "\n"


def lattice_to_text(lat: Lattice) -> str:
    """Kaldi's text form of a state-level Lattice after the key: newline, lines, empty line."""
    return "\n" + "".join(line + "\n" for line, _ in _lattice_lines(lat)) + "\n"


# --------------------------------------------------------------------------
# binary writing

def _compact_weight(g: float, a: float, tids: Sequence[int]) -> bytes:
    head = struct.pack("<ffi", g, a, len(tids))
    return head + np.asarray(tids, dtype="<i4").tobytes() if tids else head


def compact_lattice_to_bytes(clat: CompactLattice) -> bytes:
    """The OpenFst binary form of a CompactLattice, as Kaldi writes it (no table framing)."""
    props = fst_properties.text_built_properties(ev for _, ev in _compact_lines(clat))
    buf: List[bytes] = [vector_fst_header(COMPACT_ARC_TYPE, props, clat.start, clat.num_states)]
    for s in range(clat.num_states):
        buf.append(_compact_weight(*clat.finals.get(s, (INF, INF, ()))))
        buf.append(struct.pack("<q", len(clat.arcs[s])))
        for (w, g, a, t, d) in clat.arcs[s]:
            buf.append(struct.pack("<ii", w, w) + _compact_weight(g, a, t) + struct.pack("<i", d))
    return b"".join(buf)


def lattice_to_bytes(lat: Lattice) -> bytes:
    """The OpenFst binary form of a state-level Lattice, as Kaldi writes it."""
    props = fst_properties.text_built_properties(ev for _, ev in _lattice_lines(lat))
    buf: List[bytes] = [vector_fst_header(LATTICE_ARC_TYPE, props, lat.start, lat.num_states)]
    for s in range(lat.num_states):
        g, a = lat.finals.get(s, (INF, INF))
        buf.append(struct.pack("<ffq", g, a, len(lat.arcs[s])))
        for (il, ol, g, a, d) in lat.arcs[s]:
            buf.append(struct.pack("<iiffi", il, ol, g, a, d))
    return b"".join(buf)


# --------------------------------------------------------------------------
# binary reading

class _Reader:
    """Little-endian reader over a bytes buffer with a position."""

    def __init__(self, data: bytes, pos: int = 0):
        self.data, self.pos = data, pos

    def unpack(self, fmt: str) -> tuple:
        vals = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return vals


def _read_fst_header(r: _Reader) -> Tuple[str, int, int]:
    """(arc type, start, number of states) of the lattice at ``r.pos``; ``r.pos`` moves to its body."""
    try:
        h = read_fst_header(r.data, "binary lattice", r.pos)
    except LangError as e:
        raise LatticeIOError(str(e)) from None
    if h.fst_type != "vector":
        raise LatticeIOError(f"fst type {h.fst_type!r} not supported (Kaldi lattices are 'vector')")
    if h.flags & 0x3:
        raise LatticeIOError("lattices with attached symbol tables are not supported")
    if h.num_states < 0:
        raise LatticeIOError("fst header without a state count is not supported")
    r.pos = h.body
    return h.arc_type, h.start, h.num_states


def _compact_body(r: _Reader, start: int, nstates: int) -> CompactLattice:
    data, pos, unpack = r.data, r.pos, struct.unpack_from
    clat = CompactLattice(arcs=[[] for _ in range(nstates)], start=int(start))
    for s in range(nstates):
        g, a, n = unpack("<ffi", data, pos)
        pos += 12
        tids = unpack(f"<{n}i", data, pos) if n else ()
        pos += 4 * n
        if g != INF:
            clat.finals[s] = (g, a, tids)
        (narcs,) = unpack("<q", data, pos)
        pos += 8
        arcs = clat.arcs[s]
        for _ in range(narcs):
            il, _ol, g, a, n = unpack("<iiffi", data, pos)
            pos += 20
            tids = unpack(f"<{n}i", data, pos) if n else ()
            pos += 4 * n
            (d,) = unpack("<i", data, pos)
            pos += 4
            arcs.append((il, g, a, tids, d))
    r.pos = pos
    return clat


def _lattice_body(r: _Reader, start: int, nstates: int) -> Lattice:
    lat = Lattice(arcs=[[] for _ in range(nstates)], start=int(start))
    for s in range(nstates):
        g, a, narcs = r.unpack("<ffq")
        if g != INF:
            lat.finals[s] = (g, a)
        arcs = lat.arcs[s]
        for _ in range(narcs):
            arcs.append(r.unpack("<iiffi"))
    return lat


def compact_lattice_from_reader(r: _Reader) -> CompactLattice:
    """Parse one binary lattice at ``r.pos`` as a CompactLattice ("lattice4" ones converted)."""
    arc_type, start, nstates = _read_fst_header(r)
    if arc_type == LATTICE_ARC_TYPE:
        from kaldi_kd.decode.determinize import lattice_to_compact  # local: avoid a cycle

        return lattice_to_compact(_lattice_body(r, start, nstates))
    if arc_type != COMPACT_ARC_TYPE:
        raise LatticeIOError(f"arc type {arc_type!r}: expected 'compactlattice44' or 'lattice4'")
    return _compact_body(r, start, nstates)


def lattice_from_reader(r: _Reader) -> Lattice:
    """Parse one binary lattice at ``r.pos`` as a state-level Lattice (compact ones converted)."""
    arc_type, start, nstates = _read_fst_header(r)
    if arc_type == COMPACT_ARC_TYPE:
        return compact_to_lattice(_compact_body(r, start, nstates))
    if arc_type != LATTICE_ARC_TYPE:
        raise LatticeIOError(f"arc type {arc_type!r}: expected 'lattice4' or 'compactlattice44'")
    return _lattice_body(r, start, nstates)


# --------------------------------------------------------------------------
# text reading (Kaldi tries both kinds at once and keeps what parsed)

def _float(tok: str) -> float:
    if tok == "BadNumber":
        return math.nan
    return float(tok)  # accepts Infinity / -Infinity


def _lw(tok: str) -> Optional[Tuple[float, float]]:
    parts = tok.split(",")
    if len(parts) != 2:
        return None
    try:
        return _float(parts[0]), _float(parts[1])
    except ValueError:
        return None


def _cw(tok: str) -> Optional[Tuple[float, float, Tuple[int, ...]]]:
    head, sep, tail = tok.rpartition(",")
    lw = _lw(head) if sep else None
    if lw is None:
        return None
    try:
        return lw[0], lw[1], tuple(int(x) for x in tail.split("_") if x)
    except ValueError:
        return None


def _ints(cols: Sequence[str]) -> Optional[List[int]]:
    try:
        return [int(c) for c in cols]
    except ValueError:
        return None


class _TextBuild:
    """Both candidate parses of one text lattice; a candidate becomes None when a line fails it."""

    def __init__(self) -> None:
        self.lat: Optional[Lattice] = Lattice()
        self.clat: Optional[CompactLattice] = CompactLattice()

    def _grow(self, fst, s: int) -> None:
        while s >= fst.num_states:
            fst.arcs.append([])

    def line(self, cols: List[str], first: bool) -> None:
        head = _ints(cols[:1])
        if head is None or len(cols) > 5:
            self.lat = self.clat = None
            return
        s = head[0]
        for fst in (self.lat, self.clat):
            if fst is not None:
                self._grow(fst, s)
                if first:
                    fst.start = s
        if self.lat is not None and not self._lattice_line(cols, s):
            self.lat = None
        if self.clat is not None and not self._compact_line(cols, s):
            self.clat = None

    def _lattice_line(self, cols: List[str], s: int) -> bool:
        lat, n = self.lat, len(cols)
        if n == 1:
            lat.finals[s] = (0.0, 0.0)
            return True
        if n == 2:
            w = _lw(cols[1])
            if w is None:
                return False
            if w[0] != INF:
                lat.finals[s] = w
            return True
        ids = _ints(cols[1:4]) if n in (4, 5) else None
        w = (0.0, 0.0) if n == 4 else (_lw(cols[4]) if n == 5 else None)
        if ids is None or w is None or w[0] == INF:
            return False
        self._grow(lat, ids[0])
        lat.arcs[s].append((ids[1], ids[2], w[0], w[1], ids[0]))
        return True

    def _compact_line(self, cols: List[str], s: int) -> bool:
        clat, n = self.clat, len(cols)
        if n == 1:
            clat.finals[s] = (0.0, 0.0, ())
            return True
        if n == 2:
            w = _cw(cols[1])
            if w is None:
                return False
            if w[0] != INF or w[2]:
                clat.finals[s] = w
            return True
        ids = _ints(cols[1:3]) if n in (3, 4) else None
        w = (0.0, 0.0, ()) if n == 3 else (_cw(cols[3]) if n == 4 else None)
        if ids is None or w is None or (w[0] == INF and not w[2]):
            return False
        self._grow(clat, ids[0])
        clat.arcs[s].append((ids[1], w[0], w[1], w[2], ids[0]))
        return True


def parse_text_lattice(lines: Sequence[str]) -> Tuple[Optional[Lattice], Optional[CompactLattice]]:
    """Parse one text lattice (its lines, without key and empty line) both ways, as Kaldi does.

    Returns:
        (Lattice or None, CompactLattice or None): None where a line does not fit that kind.
    """
    b = _TextBuild()
    for i, line in enumerate(lines):
        cols = line.split()
        if not cols:
            break
        b.line(cols, i == 0)
        if b.lat is None and b.clat is None:
            raise LatticeIOError(f"bad line in lattice text format: {line!r}")
    return b.lat, b.clat


def compact_lattice_from_text(lines: Sequence[str]) -> CompactLattice:
    """A text lattice as a CompactLattice (a state-level one converted)."""
    lat, clat = parse_text_lattice(lines)
    if clat is not None:
        return clat
    from kaldi_kd.decode.determinize import lattice_to_compact  # local: avoid a cycle

    return lattice_to_compact(lat)


def lattice_from_text(lines: Sequence[str]) -> Lattice:
    """A text lattice as a state-level Lattice (a compact one converted as Kaldi does)."""
    lat, clat = parse_text_lattice(lines)
    return lat if lat is not None else compact_to_lattice(clat)


# --------------------------------------------------------------------------
# conversion

def compact_to_lattice(clat: CompactLattice) -> Lattice:
    """Kaldi's ``ConvertLattice(CompactLattice -> Lattice)``: same state numbers, new chain states
    appended per state (final-weight string first, then each arc's string), the word and weight
    on the first arc of a chain, transition-ids as input labels."""
    n = clat.num_states
    lat = Lattice(arcs=[[] for _ in range(n)], start=clat.start)
    for s in range(n):
        fin = clat.finals.get(s)
        if fin is not None:
            g, a, tids = fin
            cur = s
            for i, t in enumerate(tids):
                nxt = lat.add_state()
                w = (g, a) if i == 0 else (0.0, 0.0)
                lat.arcs[cur].append((t, 0, w[0], w[1], nxt))
                cur = nxt
            lat.finals[cur] = (0.0, 0.0) if tids else (g, a)
        for (word, g, a, tids, d) in clat.arcs[s]:
            cur = s
            for i in range(len(tids) - 1):
                nxt = lat.add_state()
                w = (g, a) if i == 0 else (0.0, 0.0)
                lat.arcs[cur].append((tids[i], word if i == 0 else 0, w[0], w[1], nxt))
                cur = nxt
            last_w = (g, a) if len(tids) <= 1 else (0.0, 0.0)
            lat.arcs[cur].append((tids[-1] if tids else 0, word if len(tids) <= 1 else 0,
                                  last_w[0], last_w[1], d))
    return lat
