"""The word list handed to the lexicon stage: top-N LM-text words + every transcript word.

Example:
    >>> write_vocab("data/local/vocab.txt", ["HELLO WORLD"], "data/local/lm/lm_text.txt.gz", 20000)  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Iterable, List, Optional, Union

from kaldi_kd.corpus.lm_text import word_counts
from kaldi_kd.data.atomic import write_text_atomic

PathLike = Union[str, Path]


def top_words(counts: Dict[str, int], n: int) -> List[str]:
    """The ``n`` most frequent words (ties broken alphabetically, so the result is stable)."""
    return [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


def write_vocab(path: PathLike, transcripts: Iterable[str], lm_text: Optional[PathLike],
                top_n: int) -> int:
    """Write the sorted union of transcript words and the top-``top_n`` LM-text words.

    Also writes ``<path>.counts`` (``word count`` by LM-text frequency) next to it when
    ``lm_text`` is given.

    Returns:
        the number of words written.
    """
    words = {w for t in transcripts for w in t.split()}
    if lm_text is not None and Path(lm_text).is_file():
        counts = word_counts(lm_text)
        words.update(top_words(counts, top_n))
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        write_text_atomic(f"{path}.counts", "".join(f"{w} {c}\n" for w, c in ranked))
    write_text_atomic(path, "".join(w + "\n" for w in sorted(words)))
    return len(words)


def uncovered(vocab: PathLike, transcripts: Iterable[str]) -> List[str]:
    """Transcript words missing from the vocabulary file (sorted)."""
    have = set(Path(vocab).read_text().split())
    return sorted({w for t in transcripts for w in t.split()} - have)
