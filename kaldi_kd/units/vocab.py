"""Unit vocabularies per level (senone, monophone, subword), saved as ``units.txt``.

- senone: pdf-ids 0..P-1 (symbol = the pdf-id); silence pdfs are ordinary units.
- monophone: ``<sil>`` (id 0) for the lang's optional-silence phone, then every other
  position-independent base phone in phones.txt order (other silence phones such as
  SPN keep their own names); <eps> and disambiguation symbols have no unit.
- subword: the sentencepiece model's pieces in id order; the model is trained with
  ``<sil>`` as a user-defined symbol, which is the silence unit.
- word (not a teacher level of its own): ``<sil>`` then the transcripts' words, for the
  word spans a pretrained LM teacher tokenises (:func:`word_vocab`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Mapping, Sequence

import numpy as np

from kaldi_kd.errors import InputError
from kaldi_kd.gmm.lang import Lang, base_phone

SIL = "<sil>"
LEVELS = ("senone", "monophone", "subword")


@dataclass(frozen=True)
class UnitVocab:
    """A unit level's vocabulary.

    Attributes:
        level: one of LEVELS.
        symbols: symbol per unit id.
        sil_id: the silence unit id (-1 at the senone level: silence pdfs stay pdfs).
    """

    level: str
    symbols: List[str]
    sil_id: int

    def __len__(self) -> int:
        return len(self.symbols)


def senone_vocab(num_pdfs: int) -> UnitVocab:
    """pdf-ids as units."""
    return UnitVocab("senone", [str(i) for i in range(num_pdfs)], -1)


def _base_name(lang: Lang, name: str) -> str:
    """Position-independent phone name (``AH_B`` -> ``AH``; unchanged in a position-independent lang)."""
    return base_phone(name) if lang.position_dependent else name


def monophone_vocab(lang: Lang) -> "tuple[UnitVocab, np.ndarray]":
    """The monophone vocabulary and a phone-id → unit-id map (-1 where no unit).

    Returns:
        (vocab, phone_map) with phone_map int32 of size max phone id + 1.
    """
    names = lang.phone_names
    sil_base = _base_name(lang, names[lang.optional_silence])
    symbols: List[str] = [SIL]
    index: Dict[str, int] = {sil_base: 0}
    phone_map = np.full(max(lang.phones.values()) + 1, -1, dtype=np.int32)
    for pid in lang.real_phones():
        base = _base_name(lang, names[pid])
        if base not in index:
            index[base] = len(symbols)
            symbols.append(base)
        phone_map[pid] = index[base]
    return UnitVocab("monophone", symbols, 0), phone_map


WORD_LEVEL = "word"


def word_vocab(texts: Mapping[str, Sequence[str]]) -> UnitVocab:
    """``<sil>`` (id 0), then the transcripts' distinct words sorted: the word level's units.

    Word segments (spans of aligned words) serve pretrained LM teachers, which tokenise
    the words themselves; the vocabulary is the transcripts' own words, so no word is
    lost to the lexicon's OOV symbol.
    """
    words = sorted({w for ws in texts.values() for w in ws} - {SIL})
    return UnitVocab(WORD_LEVEL, [SIL] + words, 0)


def subword_vocab(sp) -> UnitVocab:
    """Pieces of a sentencepiece processor; it must know ``<sil>``.

    Raises:
        ValueError: when the model has no ``<sil>`` piece (train it with steps_py/train_spm.py).
    """
    sil = sp.piece_to_id(SIL)
    if sil == sp.unk_id() and SIL != sp.id_to_piece(sil):
        raise InputError("sentencepiece model has no '<sil>' piece; train it with steps_py/train_spm.py")
    return UnitVocab("subword", [sp.id_to_piece(i) for i in range(sp.get_piece_size())], sil)
