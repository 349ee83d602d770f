"""Word error counts and Kaldi's ``%WER`` line.

:class:`ErrorCounts` holds the counts of one utterance or a whole set; its
:meth:`ErrorCounts.kaldi_line` is the line Kaldi's ``compute-wer`` prints and
``score_kaldi.sh`` stores in ``wer_LMWT_WIP``:
``%WER 12.34 [ 5 / 9, 1 ins, 3 del, 1 sub ]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, Iterable, Sequence

import kaldialign

WER_LINE = re.compile(r"%WER\s+([\d.]+|nan|inf)\s+\[\s*(\d+)\s*/\s*(\d+),\s*(\d+)\s+ins,\s*(\d+)\s+del,\s*(\d+)\s+sub\s*\]")


@dataclass
class ErrorCounts:
    """Insertions, deletions, substitutions against ``ref_words`` reference words."""

    ins: int = 0
    dels: int = 0
    subs: int = 0
    ref_words: int = 0
    sentences: int = 0
    sentence_errors: int = 0

    @property
    def errors(self) -> int:
        return self.ins + self.dels + self.subs

    @property
    def wer(self) -> float:
        """WER in percent (0 errors on 0 words is 0; errors on 0 words is inf)."""
        if self.ref_words == 0:
            return 0.0 if self.errors == 0 else float("inf")
        return 100.0 * self.errors / self.ref_words

    def __add__(self, other: "ErrorCounts") -> "ErrorCounts":
        return ErrorCounts(self.ins + other.ins, self.dels + other.dels, self.subs + other.subs,
                           self.ref_words + other.ref_words, self.sentences + other.sentences,
                           self.sentence_errors + other.sentence_errors)

    def kaldi_line(self) -> str:
        """``%WER 12.34 [ 5 / 9, 1 ins, 3 del, 1 sub ]`` (compute-wer's format)."""
        return (f"%WER {self.wer:.2f} [ {self.errors} / {self.ref_words}, {self.ins} ins, "
                f"{self.dels} del, {self.subs} sub ]")


def parse_kaldi_line(line: str) -> ErrorCounts:
    """Inverse of :meth:`ErrorCounts.kaldi_line` (reads any ``wer_*`` file's first %WER line).

    Raises:
        ValueError: when the line has no ``%WER`` record.
    """
    m = WER_LINE.search(line)
    if not m:
        raise ValueError(f"no %WER record in {line!r}")
    _, _, n, i, d, s = m.groups()
    return ErrorCounts(int(i), int(d), int(s), int(n))


def count_errors(ref: Sequence[str], hyp: Sequence[str], sclite_mode: bool = False) -> ErrorCounts:
    """Edit-distance counts of one utterance (kaldialign; Levenshtein costs 1/1/1, or
    sclite's 3/3/4 when ``sclite_mode``)."""
    r = kaldialign.edit_distance(list(ref), list(hyp), sclite_mode=sclite_mode)
    return ErrorCounts(int(r["ins"]), int(r["del"]), int(r["sub"]), len(ref), 1,
                       int(r["total"] > 0))


def corpus_errors(refs: Dict[str, str], hyps: Dict[str, str],
                  utts: Iterable[str] = None) -> Dict[str, ErrorCounts]:
    """Per-utterance counts; an utterance missing from ``hyps`` counts as all deletions."""
    utts = list(refs) if utts is None else list(utts)
    return {u: count_errors(refs[u].split(), hyps.get(u, "").split()) for u in utts}


def total(counts: Iterable[ErrorCounts]) -> ErrorCounts:
    out = ErrorCounts()
    for c in counts:
        out = out + c
    return out
