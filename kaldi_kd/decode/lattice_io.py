"""Lattice tables as Kaldi reads and writes them: ark (binary or text, gzip'd or piped) and scp.

An archive entry is ``key + " "`` followed directly by one lattice in the form of
:mod:`kaldi_kd.decode.lattice_codec` — binary starts with the FST magic (byte 0xd6),
text with a newline.  Unlike matrices and vectors there is no ``\\0B`` marker (archives
written by kaldi-kd before this was fixed had one; they are still read).

Read specifiers (Kaldi's rspecifiers, options such as ``,s,cs`` ignored)::

    lat.1.gz | lat.ark                     a file (gzip'd or not, binary or text entries)
    ark:lat.ark | "ark:gunzip -c lat.1.gz|" an archive or a command's output
    scp:lat.scp                            lines "key file:offset" (or "key file")

Write specifiers::

    lat.1.gz | lat.ark | ark:lat.ark       an archive (gzip'd when the name ends in .gz)
    ark,t:lat.txt                          text entries
    ark,scp:lat.ark,lat.scp                archive plus an scp with byte offsets
    "ark:| gzip -c > lat.1.gz"             into a command

Kaldi reads every kind as either lattice type (``read_lattices`` gives state-level
Lattices, ``read_compact_lattices`` CompactLattices; the other type is converted).
"""

from __future__ import annotations

import gzip
import io
import os
import struct
import subprocess
from pathlib import Path
from typing import BinaryIO, Callable, Dict, Iterable, Iterator, List, Optional, Tuple, Union

from kaldi_kd.data.atomic import atomic_path
from kaldi_kd.data.tables import split_specifier
from kaldi_kd.decode.lattice import CompactLattice, Lattice, LatticeError
from kaldi_kd.decode.lattice_codec import (  # noqa: F401  (re-exported: the public lattice I/O)
    BINARY_FIRST_BYTE, LatticeIOError, _Reader,
    compact_lattice_from_reader, compact_lattice_from_text, compact_lattice_to_bytes,
    compact_lattice_to_text, compact_to_lattice, lattice_from_reader, lattice_from_text,
    lattice_to_bytes, lattice_to_text, parse_text_lattice,
)

PathLike = Union[str, os.PathLike]
_WS = b" \t\r\n"


# --------------------------------------------------------------------------
# sources (specifiers: kaldi_kd.data.tables.split_specifier)

def _read_source(target: str) -> bytes:
    """The bytes of a file (gunzipped when gzip'd) or of a command's stdout (``cmd |``)."""
    if target.rstrip().endswith("|"):
        proc = subprocess.run(target.rstrip()[:-1], shell=True, capture_output=True, check=False)
        if proc.returncode != 0:
            raise LatticeIOError(f"{target}: command failed: {proc.stderr.decode(errors='replace')[-500:]}")
        return proc.stdout
    if not os.path.exists(target):
        raise LatticeIOError(f"{target}: no such lattice file")
    with open(target, "rb") as f:
        data = f.read()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


# --------------------------------------------------------------------------
# reading

def _object_at(data: bytes, pos: int, parse_binary: Callable, parse_text: Callable):
    """Parse one lattice at ``pos`` (Kaldi's holder rule: 0xd6 = binary, whitespace = text).

    Returns:
        (lattice, position after it).
    """
    if data[pos:pos + 2] == b"\0B" and data[pos + 2:pos + 3] == bytes([BINARY_FIRST_BYTE]):
        pos += 2  # written by kaldi-kd < the conformance fix
    first = data[pos:pos + 1]
    if first == bytes([BINARY_FIRST_BYTE]):
        r = _Reader(data, pos)
        return parse_binary(r), r.pos
    if first and first in _WS:
        while data[pos:pos + 1] in (b" ", b"\t", b"\r"):
            pos += 1
        if data[pos:pos + 1] != b"\n":
            raise LatticeIOError("text lattice: expected a newline after the key")
        end = data.find(b"\n\n", pos)
        if end < 0:
            end = len(data)
        lines = data[pos + 1:end].decode("ascii").splitlines()
        return parse_text(lines), end + 2
    raise LatticeIOError(f"does not appear to be an FST (first byte {first!r} is neither "
                         "the binary magic 0xd6 nor whitespace)")


def _iter_ark(data: bytes, name: str, parse_binary: Callable, parse_text: Callable) -> Iterator[tuple]:
    pos, n = 0, len(data)
    while True:
        while pos < n and data[pos] in _WS:
            pos += 1
        if pos >= n:
            return
        end = pos
        while end < n and data[end] not in _WS:
            end += 1
        key = data[pos:end].decode("utf-8", errors="replace")
        if end >= n:
            raise LatticeIOError(f"{name}: truncated entry for utterance '{key}' at byte {pos}")
        pos = end + 1 if data[end:end + 1] == b" " else end
        try:
            obj, pos = _object_at(data, pos, parse_binary, parse_text)
        except (LatticeIOError, LatticeError, struct.error, ValueError, UnicodeDecodeError) as err:
            raise LatticeIOError(f"{name}: cannot read lattice for utterance '{key}': {err}") from err
        yield key, obj


def _iter_scp(scp: str, parse_binary: Callable, parse_text: Callable) -> Iterator[tuple]:
    cache: Dict[str, bytes] = {}
    for lineno, line in enumerate(_read_source(scp).decode().splitlines(), 1):
        if not line.strip():
            continue
        key, _, rx = line.strip().partition(" ")
        rx = rx.strip()
        target, offset = rx, 0
        if not rx.endswith("|") and ":" in rx and rx.rsplit(":", 1)[1].isdigit():
            target, off = rx.rsplit(":", 1)
            offset = int(off)
        if target not in cache:
            cache = {target: _read_source(target)}  # scp entries are usually in file order
        try:
            obj, _ = _object_at(cache[target], offset, parse_binary, parse_text)
        except (LatticeIOError, LatticeError, struct.error, ValueError, UnicodeDecodeError) as err:
            raise LatticeIOError(f"{scp}:{lineno}: cannot read lattice for utterance '{key}' "
                                 f"from {rx}: {err}") from err
        yield key, obj


def _read_table(spec: PathLike, parse_binary: Callable, parse_text: Callable) -> Iterator[tuple]:
    kind, _, target = split_specifier(spec)
    if kind == "scp":
        return _iter_scp(target, parse_binary, parse_text)
    if kind != "ark":
        raise LatticeIOError(f"{spec}: a read specifier is 'ark:...' or 'scp:...'")
    name = target.rstrip("| ") if target.rstrip().endswith("|") else target
    return _iter_ark(_read_source(target), name, parse_binary, parse_text)


def read_compact_lattices(spec: PathLike) -> Iterator[Tuple[str, CompactLattice]]:
    """Iterate (utt, CompactLattice) over a lattice table (see the module doc for ``spec``).

    Raises:
        LatticeIOError: naming the file and the utterance whose lattice is unreadable.
    """
    return _read_table(spec, compact_lattice_from_reader, compact_lattice_from_text)


def read_lattices(spec: PathLike) -> Iterator[Tuple[str, Lattice]]:
    """Iterate (utt, state-level Lattice) over a lattice table (compact entries converted)."""
    return _read_table(spec, lattice_from_reader, lattice_from_text)


# --------------------------------------------------------------------------
# writing

def _check_key(key: str) -> None:
    if not key or any(c.isspace() for c in key):
        raise LatticeIOError(f"invalid utterance id {key!r}")


def write_compact_lattice_entry(f: BinaryIO, key: str, clat: CompactLattice, binary: bool = True) -> None:
    """Write one archive entry (``key``, a space, the lattice) to an open binary stream."""
    _check_key(key)
    body = compact_lattice_to_bytes(clat) if binary else compact_lattice_to_text(clat).encode()
    f.write(key.encode() + b" " + body)


def write_lattice_entry(f: BinaryIO, key: str, lat: Lattice, binary: bool = True) -> None:
    """Write one state-level lattice entry to an open binary stream."""
    _check_key(key)
    body = lattice_to_bytes(lat) if binary else lattice_to_text(lat).encode()
    f.write(key.encode() + b" " + body)


def _write_table(wspec: PathLike, items: Iterable[tuple], write_entry: Callable, binary: bool) -> int:
    kind, opts, target = split_specifier(wspec)
    binary = binary and "t" not in opts
    if kind == "ark+scp":
        ark, _, scp = target.partition(",")
        if not scp or ark.endswith(".gz"):
            raise LatticeIOError(f"{wspec}: expected 'ark,scp:<plain ark>,<scp>'")
        return _write_ark_scp(Path(ark), Path(scp), items, write_entry, binary)
    if kind != "ark":
        raise LatticeIOError(f"{wspec}: a write specifier is 'ark:...' or 'ark,scp:...'")
    if target.lstrip().startswith("|"):
        return _write_pipe(target.lstrip()[1:], items, write_entry, binary)
    n = 0
    path = Path(target)
    with atomic_path(path) as tmp:
        opener = gzip.open if str(path).endswith(".gz") else open
        with opener(tmp, "wb") as f:
            for key, lat in items:
                write_entry(f, key, lat, binary)
                n += 1
    return n


def _write_ark_scp(ark: Path, scp: Path, items: Iterable[tuple], write_entry: Callable, binary: bool) -> int:
    lines: List[str] = []
    with atomic_path(ark) as tmp, open(tmp, "wb") as f:
        for key, lat in items:
            _check_key(key)
            lines.append(f"{key} {ark}:{f.tell() + len(key.encode()) + 1}\n")
            write_entry(f, key, lat, binary)
    with atomic_path(scp) as tmp:
        Path(tmp).write_text("".join(lines))
    return len(lines)


def _write_pipe(cmd: str, items: Iterable[tuple], write_entry: Callable, binary: bool) -> int:
    proc = subprocess.Popen(cmd, shell=True, stdin=subprocess.PIPE)
    n = 0
    try:
        for key, lat in items:
            write_entry(proc.stdin, key, lat, binary)
            n += 1
    finally:
        proc.stdin.close()
        rc = proc.wait()
    if rc != 0:
        raise LatticeIOError(f"'{cmd}': command exited with status {rc}")
    return n


def write_compact_lattices(wspec: PathLike, items: Iterable[Tuple[str, CompactLattice]],
                           binary: bool = True) -> int:
    """Write (utt, CompactLattice) pairs as a Kaldi table (see the module doc for ``wspec``).

    Files are written atomically.  Returns the number of lattices written.
    """
    return _write_table(wspec, items, write_compact_lattice_entry, binary)


def write_lattices(wspec: PathLike, items: Iterable[Tuple[str, Lattice]], binary: bool = True) -> int:
    """Write (utt, state-level Lattice) pairs as a Kaldi table; returns the number written."""
    return _write_table(wspec, items, write_lattice_entry, binary)


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

