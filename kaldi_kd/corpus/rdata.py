"""Read character vectors from R's lazy-load data files (``data/Rdata.rdx/.rdb``) without R.

Enough of R's XDR serialisation format (versions 2 and 3) to read packages' data
sets made of vectors and lists, e.g. stringr's ``sentences`` (the 720 Harvard
sentences):

    >>> read_lazyload("/usr/lib/R/site-library/stringr/data/Rdata", "sentences")[:1]  # doctest: +SKIP
    ['The birch canoe slid on the smooth planks.']
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path
from typing import Any, Dict, List, Union

from kaldi_kd.errors import KaldiKdError

_NIL, _REF, _GLOBALENV, _EMPTYENV, _BASEENV, _BASENS, _MISSING, _UNBOUND = 254, 255, 253, 242, 241, 250, 251, 252
_SPECIAL = {_NIL, _GLOBALENV, _EMPTYENV, _BASEENV, _BASENS, _MISSING, _UNBOUND}


class RDataError(KaldiKdError, ValueError):
    """The file is not R serialisation this reader understands; the message names it."""


class _Reader:
    def __init__(self, data: bytes, name: str):
        self.data, self.pos, self.name, self.refs = data, 0, name, []

    def int(self) -> int:
        (v,) = struct.unpack_from(">i", self.data, self.pos)
        self.pos += 4
        return v

    def length(self) -> int:
        n = self.int()
        if n == -1:
            hi, lo = self.int(), self.int()
            n = (hi << 32) + lo
        return n

    def header(self) -> None:
        if self.data[:2] != b"X\n":
            raise RDataError(f"{self.name}: not XDR R serialisation")
        self.pos = 2
        version = self.int()
        self.int(), self.int()
        if version == 3:
            self.pos += 4 + self.int()  # native encoding name

    def item(self) -> Any:
        flags = self.int()
        kind, has_attr, has_tag = flags & 0xFF, flags & (1 << 9), flags & (1 << 10)
        if kind in _SPECIAL:
            return None
        if kind == _REF:
            return self.refs[(flags >> 8) - 1]
        if kind == 1:  # SYMSXP
            sym = self.item()
            self.refs.append(sym)
            return sym
        if kind in (2, 239):  # pairlist / attribute pairlist
            return self._pairlist(has_attr, has_tag)
        if kind == 9:  # CHARSXP
            n = self.int()
            if n == -1:
                return None
            s = self.data[self.pos:self.pos + n].decode("utf-8", errors="replace")
            self.pos += n
            return s
        value = self._vector(kind)
        if has_attr:
            self.item()
        return value

    def _pairlist(self, has_attr: int, has_tag: int) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        if has_attr:
            self.item()
        tag = self.item() if has_tag else None
        out[str(tag)] = self.item()
        rest = self.item()
        if isinstance(rest, dict):
            out.update(rest)
        return out

    def _vector(self, kind: int) -> Any:
        if kind in (10, 13):  # logical, integer
            n = self.length()
            v = list(struct.unpack_from(f">{n}i", self.data, self.pos))
            self.pos += 4 * n
            return v
        if kind == 14:  # double
            n = self.length()
            v = list(struct.unpack_from(f">{n}d", self.data, self.pos))
            self.pos += 8 * n
            return v
        if kind in (16, 19, 20):  # character, list, expression
            return [self.item() for _ in range(self.length())]
        raise RDataError(f"{self.name}: unsupported R object type {kind} at byte {self.pos}")


def unserialize(data: bytes, name: str = "<bytes>") -> Any:
    """Decode one serialised R object (vectors -> lists, pairlists -> dicts)."""
    r = _Reader(data, name)
    r.header()
    return r.item()


def read_lazyload(base: Union[str, Path], variable: str) -> List[Any]:
    """Read ``variable`` from the lazy-load database ``<base>.rdx`` / ``<base>.rdb``.

    Args:
        base: path without extension, e.g. ``.../stringr/data/Rdata``.
        variable: the data set name.
    Returns:
        the object (a character vector comes back as a list of str).
    Raises:
        RDataError / FileNotFoundError naming the file.
    """
    base = Path(base)
    rdx = base.with_suffix(".rdx")
    index = unserialize(gzip.decompress(rdx.read_bytes()), str(rdx))
    if not isinstance(index, list) or len(index) < 1:
        raise RDataError(f"{rdx}: unexpected index layout")
    variables = index[0]
    names = _names_of(rdx)
    if variable not in names:
        raise RDataError(f"{rdx}: no data set '{variable}' (have: {', '.join(names)})")
    offset, size = variables[names.index(variable)]
    rdb = base.with_suffix(".rdb")
    with open(rdb, "rb") as f:
        f.seek(offset)
        blob = f.read(size)
    return unserialize(zlib.decompress(blob[4:]), f"{rdb}:{variable}")


def _names_of(rdx: Path) -> List[str]:
    """The ``names`` attribute of the index's ``variables`` list (re-read with attributes)."""
    data = gzip.decompress(rdx.read_bytes())
    r = _Reader(data, str(rdx))
    r.header()
    r.int(), r.length()  # outer list flags + length
    flags = r.int()
    n = r.length()
    for _ in range(n):
        r.item()
    if not flags & (1 << 9):
        raise RDataError(f"{rdx}: variables have no names")
    attrs = r.item()
    return list(attrs.get("names", []))
