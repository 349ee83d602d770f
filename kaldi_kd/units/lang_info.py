"""What the unit code needs from a Kaldi lang dir (read-only, Kaldi's file formats).

Reads phones.txt, words.txt, phones/{optional_silence,silence,disambig}.int,
phones/word_boundary.int (when the lang has word-position-dependent phones) and
phones/align_lexicon.int.  Base (position-independent) phone names strip Kaldi's
``_B/_E/_I/_S`` suffixes when the lang is position-dependent.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Tuple, Union

PathLike = Union[str, os.PathLike]
_POS = re.compile(r"_[BEIS]$")
WORD_BOUNDARY_KINDS = ("nonword", "begin", "end", "internal", "singleton")


def read_symbol_table(path: PathLike) -> Dict[str, int]:
    """symbol → id from a Kaldi symbol table (``<symbol> <id>`` per line).

    Raises:
        ValueError: naming file and line on a malformed entry.
    """
    table: Dict[str, int] = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2 or not fields[1].lstrip("-").isdigit():
                raise ValueError(f"{path}:{lineno}: expected '<symbol> <id>'")
            table[fields[0]] = int(fields[1])
    return table


def _read_ints(path: Path) -> List[int]:
    text = path.read_text().replace(":", " ")
    try:
        return [int(x) for x in text.split()]
    except ValueError:
        raise ValueError(f"{path}: expected integers") from None


@dataclass
class LangInfo:
    """Phones, words, silence, word boundaries and pronunciations of a lang dir.

    Attributes:
        phones: phone symbol → id (phones.txt).
        words: word symbol → id (words.txt).
        optional_silence: the optional silence phone id (phones/optional_silence.int).
        silence: silence phone ids.
        disambig: disambiguation phone ids.
        word_boundary: phone id → kind in WORD_BOUNDARY_KINDS (empty when the file is absent).
        lexicon: word id → pronunciations (phone-id tuples) in file order (align_lexicon).
    """

    phones: Dict[str, int]
    words: Dict[str, int]
    optional_silence: int
    silence: List[int]
    disambig: List[int]
    word_boundary: Dict[int, str] = field(default_factory=dict)
    lexicon: Dict[int, List[Tuple[int, ...]]] = field(default_factory=dict)

    @property
    def position_dependent(self) -> bool:
        return bool(self.word_boundary)

    @property
    def phone_names(self) -> Dict[int, str]:
        return {i: s for s, i in self.phones.items()}

    @property
    def word_names(self) -> Dict[int, str]:
        return {i: s for s, i in self.words.items()}

    def base_phone(self, name: str) -> str:
        """Position-independent name: ``AH_B`` → ``AH`` (only in position-dependent langs)."""
        return _POS.sub("", name) if self.position_dependent else name

    def real_phones(self) -> List[int]:
        """Phone ids other than <eps> (0) and disambiguation symbols, ascending."""
        dis = set(self.disambig)
        return sorted(i for s, i in self.phones.items() if i != 0 and i not in dis and not s.startswith("#"))

    def pronunciation(self, word: str, which: int = 0) -> Tuple[int, ...]:
        """The ``which``-th pronunciation (phone ids) of ``word``.

        Raises:
            KeyError: naming the word when it is not in words.txt or has no pronunciation.
        """
        wid = self.words.get(word)
        if wid is None:
            raise KeyError(f"word '{word}' not in words.txt")
        prons = self.lexicon.get(wid)
        if not prons:
            raise KeyError(f"word '{word}' has no pronunciation in phones/align_lexicon.int")
        return prons[min(which, len(prons) - 1)]


def load_lang_info(lang_dir: PathLike) -> LangInfo:
    """Read a Kaldi lang dir.

    Raises:
        FileNotFoundError: naming the first missing required file.
    """
    d = Path(lang_dir)
    required = ["phones.txt", "words.txt", "phones/optional_silence.int", "phones/silence.int",
                "phones/align_lexicon.int"]
    for name in required:
        if not (d / name).exists():
            raise FileNotFoundError(f"expected file {d / name} to exist")
    disambig = _read_ints(d / "phones/disambig.int") if (d / "phones/disambig.int").exists() else []
    wb: Dict[int, str] = {}
    wb_path = d / "phones/word_boundary.int"
    if wb_path.exists():
        for lineno, line in enumerate(wb_path.read_text().splitlines(), 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2 or fields[1] not in WORD_BOUNDARY_KINDS:
                raise ValueError(f"{wb_path}:{lineno}: expected '<phone-id> {'|'.join(WORD_BOUNDARY_KINDS)}'")
            wb[int(fields[0])] = fields[1]
    lexicon: Dict[int, List[Tuple[int, ...]]] = {}
    lex_path = d / "phones/align_lexicon.int"
    for lineno, line in enumerate(lex_path.read_text().splitlines(), 1):
        fields = [int(x) for x in line.split()]
        if not fields:
            continue
        if len(fields) < 3 or fields[0] != fields[1]:
            raise ValueError(f"{lex_path}:{lineno}: expected '<word-id> <word-id> <phone-id>...'")
        lexicon.setdefault(fields[0], []).append(tuple(fields[2:]))
    opt = _read_ints(d / "phones/optional_silence.int")
    if len(opt) != 1:
        raise ValueError(f"{d / 'phones/optional_silence.int'}: expected one phone id")
    return LangInfo(
        phones=read_symbol_table(d / "phones.txt"),
        words=read_symbol_table(d / "words.txt"),
        optional_silence=opt[0],
        silence=_read_ints(d / "phones/silence.int"),
        disambig=disambig,
        word_boundary=wb,
        lexicon=lexicon,
    )
