"""CompactLattice tables in Kaldi's ark format (text and binary), e.g. ``lat.N.gz``.

Binary entries are ``key + " " + "\\0B" + <OpenFst VectorFst binary>`` with the
fst header Kaldi's ``CompactLattice::Write`` produces: magic 2125659606, fst type
"vector", arc type "compactlattice44", version 2, flags 0, properties, start,
number of states, number of arcs (0: unknown); then per state the final weight
(float graph, float acoustic, int32 n, n × int32 transition-ids), int64 number
of arcs and per arc int32 ilabel, int32 olabel (the word, twice), the weight,
int32 next state.  All little-endian.

Text entries are Kaldi's ``lattice-copy ark,t:`` form: ``key\\n`` then one line
per arc ``src\\tdst\\tword\\tgraph,acoustic,t1_t2_...`` (the weight left out when
it is One), one line per final state ``s\\tweight`` (``s`` alone when One), and an
empty line.

Raw state-level lattices (weight type "lattice4") can be read from the binary
form too, and :func:`lattice_from_kaldifst` converts a ``kaldifst.Lattice``.
"""

from __future__ import annotations

import gzip
import io
import os
import struct
import subprocess
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator, List, Tuple, Union

import numpy as np

from kaldi_kd.data.atomic import atomic_path
from kaldi_kd.decode.lattice import INF, CompactLattice, Lattice, LatticeError
from kaldi_kd.errors import KaldiKdError

PathLike = Union[str, os.PathLike]

FST_MAGIC = 2125659606
COMPACT_ARC_TYPE = b"compactlattice44"
LATTICE_ARC_TYPE = b"lattice4"
# kExpanded | kMutable: every other property "unknown", always safe for readers.
_PROPERTIES = 0x3


class LatticeIOError(KaldiKdError, ValueError):
    """A lattice table could not be read or written; the message names the file/key."""


# --------------------------------------------------------------------------
# binary

def _write_compact_weight(buf: List[bytes], g: float, a: float, tids: Tuple[int, ...]) -> None:
    buf.append(struct.pack("<ffi", g, a, len(tids)))
    if tids:
        buf.append(np.asarray(tids, dtype="<i4").tobytes())


def compact_lattice_to_bytes(clat: CompactLattice) -> bytes:
    """The OpenFst binary form of a CompactLattice (no Kaldi table framing)."""
    buf: List[bytes] = [struct.pack("<i", FST_MAGIC)]
    for s in (b"vector", COMPACT_ARC_TYPE):
        buf.append(struct.pack("<i", len(s)) + s)
    buf.append(struct.pack("<iiQqqq", 2, 0, _PROPERTIES, clat.start, clat.num_states, 0))
    for s in range(clat.num_states):
        fin = clat.finals.get(s)
        if fin is None:
            _write_compact_weight(buf, INF, INF, ())
        else:
            _write_compact_weight(buf, *fin)
        buf.append(struct.pack("<q", len(clat.arcs[s])))
        for (w, g, a, t, d) in clat.arcs[s]:
            buf.append(struct.pack("<ii", w, w))
            _write_compact_weight(buf, g, a, t)
            buf.append(struct.pack("<i", d))
    return b"".join(buf)


class _Reader:
    """Little-endian reader over a bytes buffer with a position."""

    def __init__(self, data: bytes, pos: int = 0):
        self.data, self.pos = data, pos

    def unpack(self, fmt: str) -> tuple:
        vals = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return vals

    def string(self) -> bytes:
        (n,) = self.unpack("<i")
        s = self.data[self.pos:self.pos + n]
        self.pos += n
        return s


def _read_fst_header(r: _Reader) -> Tuple[bytes, int, int]:
    (magic,) = r.unpack("<i")
    if magic != FST_MAGIC:
        raise LatticeIOError(f"bad OpenFst magic number {magic}")
    fst_type, arc_type = r.string(), r.string()
    if fst_type != b"vector":
        raise LatticeIOError(f"fst type {fst_type!r} not supported (expected 'vector')")
    version, flags, _props, start, nstates, _narcs = r.unpack("<iiQqqq")
    if flags & 0x3:
        raise LatticeIOError("lattices with attached symbol tables are not supported")
    if nstates < 0:
        raise LatticeIOError("fst header without a state count is not supported")
    return arc_type, start, nstates


def compact_lattice_from_reader(r: _Reader) -> CompactLattice:
    """Parse one binary CompactLattice (or a "lattice4" Lattice, converted) at ``r.pos``."""
    arc_type, start, nstates = _read_fst_header(r)
    if arc_type == LATTICE_ARC_TYPE:
        return _lattice_body_as_compact(r, start, nstates)
    if arc_type != COMPACT_ARC_TYPE:
        raise LatticeIOError(f"arc type {arc_type!r}: expected 'compactlattice44' or 'lattice4'")
    data = r.data
    clat = CompactLattice(arcs=[[] for _ in range(nstates)], start=int(start))
    pos = r.pos
    unpack = struct.unpack_from
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


def lattice_from_reader(r: _Reader) -> Lattice:
    """Parse one binary state-level Lattice ("lattice4") at ``r.pos``."""
    arc_type, start, nstates = _read_fst_header(r)
    if arc_type != LATTICE_ARC_TYPE:
        raise LatticeIOError(f"arc type {arc_type!r}: expected 'lattice4'")
    return _lattice_body(r, start, nstates)


def _lattice_body(r: _Reader, start: int, nstates: int) -> Lattice:
    lat = Lattice(arcs=[[] for _ in range(nstates)], start=int(start))
    for s in range(nstates):
        g, a, narcs = r.unpack("<ffq")
        if g != INF:
            lat.finals[s] = (g, a)
        for _ in range(narcs):
            il, ol, g, a, d = r.unpack("<iiffi")
            lat.arcs[s].append((il, ol, g, a, d))
    return lat


def _lattice_body_as_compact(r: _Reader, start: int, nstates: int) -> CompactLattice:
    from kaldi_kd.decode.determinize import lattice_to_compact  # local: avoid a cycle

    return lattice_to_compact(_lattice_body(r, start, nstates))


# --------------------------------------------------------------------------
# text

def _fmt(x: float) -> str:
    if x == INF:
        return "Infinity"
    if x == -INF:
        return "-Infinity"
    return f"{x:.6g}"


def _weight_text(g: float, a: float, tids: Tuple[int, ...]) -> str:
    return f"{_fmt(g)},{_fmt(a)}," + "_".join(str(t) for t in tids)


def compact_lattice_to_text(clat: CompactLattice) -> str:
    """Kaldi's text form of a CompactLattice (without key, with the blank terminating line).

    States are printed start first, like OpenFst's printer.
    """
    lines: List[str] = []
    order = [clat.start] + [s for s in range(clat.num_states) if s != clat.start] if clat.start >= 0 else []
    for s in order:
        for (w, g, a, t, d) in clat.arcs[s]:
            if g == 0.0 and a == 0.0 and not t:
                lines.append(f"{s}\t{d}\t{w}")
            else:
                lines.append(f"{s}\t{d}\t{w}\t{_weight_text(g, a, t)}")
        fin = clat.finals.get(s)
        if fin is not None:
            if fin[0] == 0.0 and fin[1] == 0.0 and not fin[2]:
                lines.append(f"{s}")
            else:
                lines.append(f"{s}\t{_weight_text(*fin)}")
    return "".join(line + "\n" for line in lines) + "\n"


def _parse_weight(tok: str) -> Tuple[float, float, Tuple[int, ...]]:
    parts = tok.split(",")
    if len(parts) != 3:
        raise LatticeIOError(f"bad CompactLatticeWeight {tok!r} (expected g,a,t1_t2...)")
    tids = tuple(int(x) for x in parts[2].split("_") if x)
    return float(parts[0]), float(parts[1]), tids


def compact_lattice_from_text(lines: List[str]) -> CompactLattice:
    """Parse the lines of one text CompactLattice (no key, no blank line)."""
    arcs: dict = {}
    finals: dict = {}
    start = -1
    max_state = -1
    for line in lines:
        f = line.split()
        s = int(f[0])
        if start < 0:
            start = s
        if len(f) in (3, 4):
            d, w = int(f[1]), int(f[2])
            g, a, t = _parse_weight(f[3]) if len(f) == 4 else (0.0, 0.0, ())
            arcs.setdefault(s, []).append((w, g, a, t, d))
            max_state = max(max_state, s, d)
        elif len(f) in (1, 2):
            finals[s] = _parse_weight(f[1]) if len(f) == 2 else (0.0, 0.0, ())
            max_state = max(max_state, s)
        else:
            raise LatticeIOError(f"bad lattice line {line!r}")
    clat = CompactLattice(arcs=[arcs.get(s, []) for s in range(max_state + 1)], start=start)
    clat.finals = finals
    return clat


# --------------------------------------------------------------------------
# tables

def _open_read(spec: PathLike) -> Tuple[bytes, str]:
    spec = str(spec)
    if ":" in spec.split("/")[0] and spec.split(":", 1)[0].split(",")[0] == "ark":
        spec = spec.split(":", 1)[1]
    if spec.endswith("|"):
        proc = subprocess.run(spec[:-1], shell=True, capture_output=True, check=False)
        if proc.returncode != 0:
            raise LatticeIOError(f"{spec}: command failed: {proc.stderr.decode()[-500:]}")
        return proc.stdout, spec
    if not os.path.exists(spec):
        raise LatticeIOError(f"{spec}: no such lattice file")
    with open(spec, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data, spec


def read_compact_lattices(spec: PathLike) -> Iterator[Tuple[str, CompactLattice]]:
    """Iterate (utt, CompactLattice) over a lattice ark (binary or text, gzip'd or not).

    ``spec`` is a path (``lat.1.gz``), ``ark:path`` or ``ark:cmd|`` (e.g.
    ``"ark:gunzip -c exp/x/decode/lat.1.gz|"``).
    """
    data, name = _open_read(spec)
    pos, n = 0, len(data)
    while True:
        while pos < n and data[pos:pos + 1] in (b"\n", b" ", b"\r", b"\t"):
            pos += 1
        if pos >= n:
            return
        sp = data.find(b" ", pos)
        if sp < 0:
            raise LatticeIOError(f"{name}: truncated entry at byte {pos}")
        key = data[pos:sp].decode()
        pos = sp + 1
        try:
            if data[pos:pos + 2] == b"\0B":
                r = _Reader(data, pos + 2)
                clat = compact_lattice_from_reader(r)
                pos = r.pos
            else:
                end = data.find(b"\n\n", pos)
                end = n if end < 0 else end
                text = data[pos:end].decode()
                clat = compact_lattice_from_text([ln for ln in text.splitlines() if ln.strip()])
                pos = end + 2
        except (LatticeIOError, LatticeError, struct.error, ValueError) as err:
            raise LatticeIOError(f"{name}: cannot read lattice for utterance '{key}': {err}") from err
        yield key, clat


def write_compact_lattices(path: PathLike, items: Iterable[Tuple[str, CompactLattice]],
                           binary: bool = True) -> int:
    """Write (utt, CompactLattice) pairs as a Kaldi ark, atomically (gzip'd if ``.gz``).

    Returns:
        the number of lattices written.
    """
    path = Path(path)
    n = 0
    with atomic_path(path) as tmp:
        opener = gzip.open if str(path).endswith(".gz") else open
        with opener(tmp, "wb") as f:
            for key, clat in items:
                write_compact_lattice_entry(f, key, clat, binary)
                n += 1
    return n


def write_compact_lattice_entry(f: BinaryIO, key: str, clat: CompactLattice, binary: bool = True) -> None:
    """Write one table entry to an open binary stream."""
    if not key or any(c.isspace() for c in key):
        raise LatticeIOError(f"invalid utterance id {key!r}")
    if binary:
        f.write(key.encode() + b" \0B" + compact_lattice_to_bytes(clat))
    else:
        f.write((key + " \n" + compact_lattice_to_text(clat)).encode())


def lattice_from_kaldifst(fst) -> Lattice:
    """Convert a ``kaldifst.Lattice`` (e.g. a decoder's raw lattice) to a :class:`Lattice`."""
    text = fst.to_str(show_weight_one=True)
    lat = Lattice(start=int(fst.start))
    nstates = int(fst.num_states)
    lat.arcs = [[] for _ in range(nstates)]
    for line in io.StringIO(text):
        f = line.split()
        if not f:
            continue
        if len(f) == 5:
            g, a = f[4].split(",")
            lat.arcs[int(f[0])].append((int(f[2]), int(f[3]), float(g), float(a), int(f[1])))
        elif len(f) == 2:
            g, a = f[1].split(",")
            lat.finals[int(f[0])] = (float(g), float(a))
        else:
            raise LatticeIOError(f"unexpected line in raw lattice: {line!r}")
    return lat
