"""Kaldi's object serialisation (``kaldi-io``), binary and text, in pure Python.

Kaldi objects (final.mdl, tree, ...) are sequences of *tokens* (``<DiagGMM>``),
*basic types* (int32, float), *integer vectors* and float *vectors*/*matrices*.
In binary mode (a file starting with ``"\\0B"``):

- token: the characters, then one space;
- int32: a size byte (4; -4 for unsigned), then 4 little-endian bytes;
- float: a size byte (4 float / 8 double), then the value;
- integer vector: a size byte (4), an int32 count, then the raw int32 values;
- vector: token ``FV`` (``DV`` for double), an int32 dimension, raw values;
- matrix: token ``FM`` (``DM``), int32 rows, int32 cols, raw row-major values.

In text mode every item is written followed by a space; vectors as
``" [ 1 2 3 ]\\n"``, matrices as ``" [\\n  1 2 \\n  3 4 ]\\n"``, integer vectors
as ``"[ 1 2 3 ]\\n"``; floats printed with 7 significant digits as Kaldi's streams (``%.7g``).

:class:`Writer` produces those bytes, :class:`Reader` parses them (reading accepts
double-precision values where Kaldi does).
"""

from __future__ import annotations

import math
import struct
from typing import List, Sequence

import numpy as np

from kaldi_kd.errors import KaldiKdError

BINARY_HEADER = b"\0B"


class KaldiFormatError(KaldiKdError, ValueError):
    """Raised when bytes do not follow Kaldi's serialisation; names the source."""


def format_float(x: float) -> str:
    """Format a float as Kaldi's text streams do (``os << f`` at precision 7).

    Kaldi's ``InitKaldiOutputStream`` raises the stream precision to 7 digits.
    """
    x = float(x)
    if math.isnan(x):
        return "nan" if math.copysign(1.0, x) > 0 else "-nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return "%.7g" % x


class Writer:
    """Accumulate Kaldi-serialised bytes, binary or text.

    Args:
        binary: Kaldi binary mode (True) or text mode (False).
    """

    def __init__(self, binary: bool):
        self.binary = binary
        self._parts: List[bytes] = []

    def getvalue(self) -> bytes:
        """Return everything written so far."""
        return b"".join(self._parts)

    def raw(self, data: bytes) -> None:
        """Append raw bytes (e.g. the text-mode newlines Kaldi adds)."""
        self._parts.append(data)

    def newline(self) -> None:
        """Append ``\\n`` in text mode only (Kaldi's ``if (!binary) os << "\\n"``)."""
        if not self.binary:
            self._parts.append(b"\n")

    def token(self, tok: str) -> None:
        """WriteToken: the token then one space, in both modes."""
        self._parts.append(tok.encode() + b" ")

    def int32(self, value: int, unsigned: bool = False) -> None:
        """WriteBasicType<int32> (or uint32 when ``unsigned``)."""
        if self.binary:
            size = b"\xfc" if unsigned else b"\x04"
            fmt = "<I" if unsigned else "<i"
            self._parts.append(size + struct.pack(fmt, int(value)))
        else:
            self._parts.append(b"%d " % int(value))

    def float32(self, value: float) -> None:
        """WriteBasicType<float>."""
        if self.binary:
            self._parts.append(b"\x04" + struct.pack("<f", float(value)))
        else:
            self._parts.append(format_float(value).encode() + b" ")

    def int_vector(self, values: Sequence[int]) -> None:
        """WriteIntegerVector<int32>."""
        if self.binary:
            arr = np.asarray(values, dtype="<i4")
            self._parts.append(b"\x04" + struct.pack("<i", len(arr)) + arr.tobytes())
        else:
            body = "".join(f"{int(v)} " for v in values)
            self._parts.append(f"[ {body}]\n".encode())

    def vector(self, values: np.ndarray) -> None:
        """Vector<float>::Write."""
        arr = np.asarray(values, dtype="<f4").reshape(-1)
        if self.binary:
            self.token("FV")
            self.int32(len(arr))
            self._parts.append(arr.tobytes())
        else:
            body = "".join(format_float(v) + " " for v in arr)
            self._parts.append(f" [ {body}]\n".encode())

    def matrix(self, values: np.ndarray) -> None:
        """Matrix<float>::Write."""
        arr = np.asarray(values, dtype="<f4")
        if arr.ndim != 2:
            raise ValueError(f"matrix must be 2-D, got shape {arr.shape}")
        if self.binary:
            self.token("FM")
            self.int32(arr.shape[0])
            self.int32(arr.shape[1])
            self._parts.append(np.ascontiguousarray(arr).tobytes())
        elif arr.shape[1] == 0:
            self._parts.append(b" [ ]\n")
        else:
            rows = "".join("\n  " + "".join(format_float(v) + " " for v in row) for row in arr)
            self._parts.append(f" [{rows}]\n".encode())


class Reader:
    """Parse Kaldi-serialised bytes, binary or text.

    Args:
        data: the bytes (without the ``"\\0B"`` header).
        binary: whether they are Kaldi binary.
        name: the source (file name) for error messages.
    """

    def __init__(self, data: bytes, binary: bool, name: str = "<bytes>"):
        self.data = data
        self.binary = binary
        self.name = name
        self.pos = 0

    def _fail(self, what: str) -> KaldiFormatError:
        return KaldiFormatError(f"{self.name}: {what} at byte {self.pos}")

    def _skip_ws(self) -> None:
        data, n = self.data, len(self.data)
        while self.pos < n and data[self.pos] in b" \t\n\r":
            self.pos += 1

    def _text_word(self) -> str:
        self._skip_ws()
        start = self.pos
        data, n = self.data, len(self.data)
        while self.pos < n and data[self.pos] not in b" \t\n\r":
            self.pos += 1
        if start == self.pos:
            raise self._fail("unexpected end of data")
        return data[start:self.pos].decode()

    def at_end(self) -> bool:
        """True when only whitespace (text) or nothing (binary) is left."""
        if not self.binary:
            self._skip_ws()
        return self.pos >= len(self.data)

    def _text_value(self, cast, what: str):
        """The next text word converted by ``cast``; fail naming ``what`` was expected."""
        word = self._text_word()
        try:
            return cast(word)
        except ValueError:
            raise self._fail(f"expected {what}, got {word!r}") from None

    def peek_token(self) -> str:
        """Return the next token without consuming it."""
        pos = self.pos
        tok = self.token()
        self.pos = pos
        return tok

    def token(self) -> str:
        """ReadToken: characters up to whitespace; the one space after is consumed."""
        if not self.binary:
            return self._text_word()
        end = self.data.find(b" ", self.pos)
        if end < 0:
            raise self._fail("token without terminating space")
        tok = self.data[self.pos:end].decode(errors="replace")
        self.pos = end + 1
        return tok

    def expect(self, tok: str) -> None:
        """ExpectToken: fail naming the expected and the found token."""
        got = self.token()
        if got != tok:
            raise self._fail(f"expected token {tok!r}, got {got!r}")

    def int32(self) -> int:
        """ReadBasicType<int32> (also accepts the unsigned size marker)."""
        if not self.binary:
            return self._text_value(int, "an integer")
        size = self.data[self.pos:self.pos + 1]
        if size not in (b"\x04", b"\xfc"):
            raise self._fail(f"expected int32 size byte, got {size!r}")
        fmt = "<i" if size == b"\x04" else "<I"
        (value,) = struct.unpack_from(fmt, self.data, self.pos + 1)
        self.pos += 5
        return value

    def float32(self) -> float:
        """ReadBasicType<float> (float or double in the file)."""
        if not self.binary:
            return self._text_value(float, "a float")
        size = self.data[self.pos]
        if size == 4:
            (value,) = struct.unpack_from("<f", self.data, self.pos + 1)
        elif size == 8:
            (value,) = struct.unpack_from("<d", self.data, self.pos + 1)
        else:
            raise self._fail(f"expected float size byte, got {size}")
        self.pos += 1 + size
        return value

    def int_vector(self) -> List[int]:
        """ReadIntegerVector<int32>."""
        if not self.binary:
            return self._text_list(int)
        if self.data[self.pos] != 4:
            raise self._fail("expected int32 vector size byte 4")
        (n,) = struct.unpack_from("<i", self.data, self.pos + 1)
        start = self.pos + 5
        self.pos = start + 4 * n
        return np.frombuffer(self.data, dtype="<i4", count=n, offset=start).tolist()

    def _text_list(self, cast=float) -> list:
        """A text ``[ v1 v2 ... ]`` list, each value converted by ``cast``."""
        self.expect("[")
        out = []
        while True:
            word = self._text_word()
            if word == "]":
                return out
            out.append(cast(word))

    def vector(self) -> np.ndarray:
        """Vector<float>::Read (FV or DV)."""
        if not self.binary:
            return np.asarray(self._text_list(float), dtype=np.float32)
        kind = self.token()
        dtype = {"FV": "<f4", "DV": "<f8"}.get(kind)
        if dtype is None:
            raise self._fail(f"expected FV or DV, got {kind!r}")
        n = self.int32()
        arr = np.frombuffer(self.data, dtype=dtype, count=n, offset=self.pos)
        self.pos += arr.nbytes
        return arr.astype(np.float32)

    def matrix(self) -> np.ndarray:
        """Matrix<float>::Read (FM or DM; text rows separated by newlines)."""
        if not self.binary:
            self._skip_ws()
            start = self.pos
            values = self._text_list(float)
            text = self.data[start:self.pos].decode()
            body = text.strip()[1:-1]
            rows = [r for r in body.split("\n") if r.strip()]
            if not rows:
                return np.zeros((0, 0), dtype=np.float32)
            return np.asarray(values, dtype=np.float32).reshape(len(rows), -1)
        kind = self.token()
        dtype = {"FM": "<f4", "DM": "<f8"}.get(kind)
        if dtype is None:
            raise self._fail(f"expected FM or DM, got {kind!r}")
        rows, cols = self.int32(), self.int32()
        arr = np.frombuffer(self.data, dtype=dtype, count=rows * cols, offset=self.pos)
        self.pos += arr.nbytes
        return arr.reshape(rows, cols).astype(np.float32)


def open_kaldi_bytes(data: bytes) -> tuple:
    """Split a Kaldi file's bytes into (payload, binary) by the ``"\\0B"`` header."""
    if data.startswith(BINARY_HEADER):
        return data[2:], True
    return data, False
