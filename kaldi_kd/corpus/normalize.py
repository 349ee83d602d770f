"""Text normalisation for LM text and prompts: raw prose -> uppercase word sentences.

Rules (one convention for LM text, prompts and transcripts, matching Kaldi corpora):
  * words are UPPERCASE ASCII letters with apostrophes only inside words (``IT'S``);
  * numbers become words (years read in pairs, ordinals, decimals, money, percent);
  * common abbreviations are expanded (``Mr.`` -> ``MISTER``), initialisms are spelled
    (``U.S.`` -> ``U S``); hyphens and dashes separate words; other punctuation goes;
  * sentences end at ``. ! ?``; a sentence longer than the limit is cut at ``; :``
    first, and pieces still outside [min_words, max_words] are dropped.

Example:
    >>> normalize_sentence("It's 3.5% of $1,200 -- in 1984!")
    "IT'S THREE POINT FIVE PERCENT OF ONE THOUSAND TWO HUNDRED DOLLARS IN NINETEEN EIGHTY FOUR"
    >>> list(text_to_sentences("Mr. Smith left. He came back on the 2nd day.", min_words=2))
    [['MISTER', 'SMITH', 'LEFT'], ['HE', 'CAME', 'BACK', 'ON', 'THE', 'SECOND', 'DAY']]
"""

from __future__ import annotations

import re
import unicodedata
from typing import Iterator, List

from kaldi_kd.corpus.numbers import (digits_to_words, number_to_words, ordinal_to_words,
                                     year_to_words)

_ABBREVIATIONS = {
    "mr": "MISTER", "mrs": "MISSUS", "messrs": "MESSIEURS", "dr": "DOCTOR", "st": "SAINT",
    "jr": "JUNIOR", "sr": "SENIOR", "gen": "GENERAL", "gov": "GOVERNOR", "col": "COLONEL",
    "capt": "CAPTAIN", "lt": "LIEUTENANT", "sgt": "SERGEANT", "rev": "REVEREND",
    "hon": "HONORABLE", "prof": "PROFESSOR", "vs": "VERSUS", "etc": "ET CETERA",
    "vol": "VOLUME", "jan": "JANUARY", "feb": "FEBRUARY", "aug": "AUGUST",
    "sept": "SEPTEMBER", "oct": "OCTOBER", "nov": "NOVEMBER", "dec": "DECEMBER", "ch": "CHAPTER", "mt": "MOUNT", "ft": "FEET",
}
_ABBREV_RE = re.compile(r"\b(" + "|".join(_ABBREVIATIONS) + r")\.(?=\s|$)", re.IGNORECASE)
_NUMBER_ABBREV_RE = re.compile(r"\bno\.\s*(?=\d)", re.IGNORECASE)
_EG_RE = re.compile(r"\b(e\.g\.|i\.e\.)", re.IGNORECASE)
_INITIALISM_RE = re.compile(r"\b((?:[A-Za-z]\.){2,})")
_INITIAL_RE = re.compile(r"\b([A-Z])\.(?=\s+[A-Z][a-z])")
_MONEY_RE = re.compile(r"\$\s?(\d[\d,]*)(?:\.(\d+))?(\s+(?:million|billion|trillion))?", re.IGNORECASE)
_PERCENT_RE = re.compile(r"(\d[\d,]*(?:\.\d+)?)\s?(%|percent\b|per cent\b)", re.IGNORECASE)
_ORDINAL_RE = re.compile(r"\b(\d+)(st|nd|rd|th|d)\b", re.IGNORECASE)
_DECIMAL_RE = re.compile(r"\b(\d+)\.(\d+)\b")
_NUMBER_RE = re.compile(r"\b\d{1,3}(?:,\d{3})+\b|\d+")
_SENTENCE_END_RE = re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+")
_CLAUSE_RE = re.compile(r"[;:]\s+")
_TRANSLATE = str.maketrans({"’": "'", "‘": "'", "`": "'", "´": "'", "“": '"', "”": '"',
                            "—": " - ", "–": " - ", "&": " and ", "\u00a0": " "})
_NON_WORD_RE = re.compile(r"[^A-Z']+")


def _ascii(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.translate(_TRANSLATE))
    return text.encode("ascii", "ignore").decode("ascii")


def _int_words(token: str) -> str:
    """An integer token: '1,200' -> cardinal, a 4-digit year-like number -> year reading,
    a leading zero -> digit by digit."""
    if "," in token:
        return number_to_words(int(token.replace(",", "")))
    if len(token) > 1 and token.startswith("0"):
        return digits_to_words(token)
    n = int(token)
    if len(token) == 4 and 1100 <= n <= 2099:
        return year_to_words(n)
    return number_to_words(n)


def _money(m: re.Match) -> str:
    words = number_to_words(int(m.group(1).replace(",", "")))
    if m.group(3):
        point = f" POINT {digits_to_words(m.group(2))}" if m.group(2) else ""
        return f" {words}{point} {m.group(3).strip().upper()} DOLLARS "
    cents = ""
    if m.group(2) and len(m.group(2)) == 2 and int(m.group(2)):
        cents = f" AND {number_to_words(int(m.group(2)))} CENTS"
    return f" {words} DOLLARS{cents} "


def _percent(m: re.Match) -> str:
    return f" {expand_numbers(m.group(1))} PERCENT "


def expand_numbers(text: str) -> str:
    """Replace money, percentages, ordinals, decimals and integers in ``text`` by words."""
    text = _MONEY_RE.sub(_money, text)
    text = _PERCENT_RE.sub(_percent, text)
    text = _ORDINAL_RE.sub(lambda m: f" {ordinal_to_words(int(m.group(1)))} ", text)
    text = _DECIMAL_RE.sub(lambda m: f" {number_to_words(int(m.group(1)))} POINT "
                                     f"{digits_to_words(m.group(2))} ", text)
    return _NUMBER_RE.sub(lambda m: f" {_int_words(m.group(0))} ", text)


def _expand_abbreviations(text: str) -> str:
    text = _NUMBER_ABBREV_RE.sub(" number ", text)
    text = _EG_RE.sub(lambda m: " for example " if m.group(1)[0] in "eE" else " that is ", text)
    text = _ABBREV_RE.sub(lambda m: _ABBREVIATIONS[m.group(1).lower()], text)
    text = _INITIALISM_RE.sub(lambda m: " " + " ".join(m.group(1).replace(".", "")) + " ", text)
    return _INITIAL_RE.sub(r"\1", text)


def prepare(text: str) -> str:
    """ASCII-fold, expand abbreviations and numbers; sentence punctuation stays."""
    return expand_numbers(_expand_abbreviations(_ascii(text)))


def words_of(sentence: str) -> List[str]:
    """Uppercase words of one (prepared) sentence; apostrophes kept only inside words."""
    words = []
    for token in _NON_WORD_RE.split(sentence.upper()):
        token = token.strip("'")
        if token:
            words.append(token)
    return words


def normalize_sentence(text: str) -> str:
    """One raw sentence -> its normalised words joined by single spaces."""
    return " ".join(words_of(prepare(text)))


def text_to_sentences(text: str, min_words: int = 3, max_words: int = 50) -> Iterator[List[str]]:
    """Split raw prose into normalised sentences of ``min_words``..``max_words`` words.

    Args:
        text: raw text (a paragraph, a chapter, ...); line breaks are spaces.
        min_words: shortest sentence kept.
        max_words: longest sentence kept; longer ones are cut at ';' and ':' first.
    Yields:
        lists of uppercase words.
    """
    for raw in _SENTENCE_END_RE.split(prepare(text)):
        words = words_of(raw)
        pieces = [words] if len(words) <= max_words else [words_of(c) for c in _CLAUSE_RE.split(raw)]
        for piece in pieces:
            if min_words <= len(piece) <= max_words:
                yield piece
