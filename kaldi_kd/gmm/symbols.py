"""Kaldi symbol tables (``phones.txt``, ``words.txt``) and integer list files.

A symbol table is one ``<symbol> <integer-id>`` pair per line; symbols and ids are
each unique, and ``<eps>`` is 0.  Errors name the file and line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Sequence, Union

from kaldi_kd.data.atomic import write_text_atomic
from kaldi_kd.errors import KaldiKdError

PathLike = Union[str, Path]


class LangError(KaldiKdError, ValueError):
    """A malformed dict/lang dir file; the message names the file (and line)."""


def read_symbol_table(path: PathLike) -> Dict[str, int]:
    """Read a Kaldi symbol table.

    Returns:
        symbol -> id, in file order.

    Raises:
        LangError: missing file, a line not ``<sym> <int>``, duplicate symbol or id.
    """
    path = Path(path)
    if not path.is_file():
        raise LangError(f"expected symbol table {path} to exist")
    table: Dict[str, int] = {}
    ids: Dict[int, str] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        fields = line.split()
        if len(fields) != 2 or not fields[1].lstrip("-").isdigit():
            raise LangError(f"{path}:{n}: expected '<symbol> <integer>', got {line!r}")
        sym, i = fields[0], int(fields[1])
        if sym in table:
            raise LangError(f"{path}:{n}: duplicate symbol {sym!r}")
        if i in ids:
            raise LangError(f"{path}:{n}: id {i} used by both {ids[i]!r} and {sym!r}")
        table[sym] = i
        ids[i] = sym
    if not table:
        raise LangError(f"{path}: empty symbol table")
    return table


def write_symbol_table(path: PathLike, symbols: Union[Mapping[str, int], Iterable[str]]) -> Dict[str, int]:
    """Write a symbol table: a symbol -> id mapping, or symbols numbered 0, 1, ...

    Returns:
        symbol -> id.
    """
    table = dict(symbols) if isinstance(symbols, Mapping) else {s: i for i, s in enumerate(symbols)}
    write_text_atomic(path, "".join(f"{s} {i}\n" for s, i in table.items()))
    return table


def read_lines(path: PathLike) -> List[List[str]]:
    """Read a whitespace-separated file as a list of token lists (blank lines kept as [])."""
    path = Path(path)
    if not path.is_file():
        raise LangError(f"expected file {path} to exist")
    return [line.split() for line in path.read_text(encoding="utf-8").splitlines()]


def to_ints(path: PathLike, rows: Sequence[Sequence[str]], table: Mapping[str, int],
            first: int = 0) -> List[List[int]]:
    """Map fields ``first:`` of each row through ``table`` (Kaldi's ``sym2int.pl -f``).

    Raises:
        LangError: naming ``path`` and line, for a symbol not in ``table``.
    """
    out = []
    for n, row in enumerate(rows, 1):
        try:
            out.append([table[s] for s in row[first:]])
        except KeyError as e:
            raise LangError(f"{path}:{n}: symbol {e.args[0]!r} not in the symbol table") from None
    return out


def write_ints(path: PathLike, rows: Sequence[Sequence[Union[int, str]]]) -> None:
    """Write rows of tokens, one row per line."""
    write_text_atomic(path, "".join(" ".join(str(x) for x in r) + "\n" for r in rows))
