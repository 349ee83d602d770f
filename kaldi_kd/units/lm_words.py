"""Subword segments of a pretrained LM's tokenizer: aligned words → LM tokens → frames.

For a pretrained teacher (``--teacher subword=hf:<dir>``) the subword units are the
LM's own tokens.  Per utterance, once at start-up:

1. the transcript's words become the LM's text (:class:`WordNormalizer`: an optional
   spelling map, then a case rule; non-lexical words such as ``<unk>`` or ``[noise]``
   are left out and treated as silence);
2. the text (words joined by single spaces) is tokenised once, with the tokenizer's own
   special tokens, and each token is given to the word holding its first non-space
   character (from the tokenizer's character offsets); a token made of spaces only is
   given to the next word and predicts nothing (it has no characters to share frames);
3. each word's alignment span is shared among its tokens by character count with
   :func:`kaldi_kd.units.alignment.split_frames`, exactly as the sentencepiece path does
   (a word with fewer frames than tokens keeps its first tokens); silence spans and
   skipped words are segments without a target.

The result (:class:`LMTokens`) holds what the LM reads (``input_ids`` with the specials,
the word of every position) and, per segment, which position's prediction is its target.
Nothing is re-tokenised per training step.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from kaldi_kd.units.alignment import Span, split_frames
from kaldi_kd.units.segments import CONTINUES, WORD_START, Segments

PathLike = Union[str, os.PathLike]
NO_TARGET = -1  # unit id of a segment without a target (silence, skipped word)

# (input ids, (start, end) character offsets, 1 where a position is a special token)
Encoding = Tuple[List[int], List[Tuple[int, int]], List[int]]
Encoder = Callable[[str], Encoding]


class TokenizationError(ValueError):
    """An utterance whose words and LM tokens cannot be matched (names the utterance)."""


def read_spelling_map(path: PathLike) -> Dict[str, str]:
    """``<lexicon-word> <LM text...>`` lines → {word: text}.

    Raises:
        ValueError: naming the file and line of a line with no text or a repeated word.
    """
    out: Dict[str, str] = {}
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        fields_ = line.split(maxsplit=1)
        if not fields_:
            continue
        if len(fields_) < 2:
            raise ValueError(f"{path}:{n}: expected '<lexicon-word> <LM text>', got {line!r}")
        if fields_[0] in out:
            raise ValueError(f"{path}:{n}: word {fields_[0]!r} given twice")
        out[fields_[0]] = " ".join(fields_[1].split())
    return out


@dataclass
class WordNormalizer:
    """Lexicon words → the LM's text.

    Attributes:
        case: "keep" | "lower" | "upper" | "sentence" (lower case, first letter of the
            utterance upper case); applied after ``spelling``.
        spelling: lexicon word → LM text (may hold spaces: several LM words, one span).
        skip: regex of non-lexical words (no LM text, no target).
    """

    case: str = "keep"
    spelling: Mapping[str, str] = field(default_factory=dict)
    skip: str = r"^[<\[].*[>\]]$"

    def __post_init__(self) -> None:
        self._skip = re.compile(self.skip) if self.skip else None

    def lm_words(self, words: Sequence[str]) -> List[Optional[str]]:
        """The LM text of each word, None for skipped words.

        Example:
            >>> WordNormalizer("sentence", {"MR": "mister"}).lm_words(["MR", "<unk>", "SMITH"])
            ['Mister', None, 'smith']
        """
        out: List[Optional[str]] = []
        first = True
        for w in words:
            if self._skip is not None and self._skip.match(w):
                out.append(None)
                continue
            text = self.spelling.get(w, w)
            if self.case in ("lower", "sentence"):
                text = text.lower()
            elif self.case == "upper":
                text = text.upper()
            if self.case == "sentence" and first:
                text = text[:1].upper() + text[1:]
            first = False
            out.append(text)
        return out


@dataclass(frozen=True)
class LMTokens:
    """One utterance for an LM teacher.

    Attributes:
        input_ids: int32 (L,) what the LM reads: the tokenizer's specials and, for a
            causal LM, a leading BOS when the tokenizer adds none.
        word_of: int32 (L,) word index (among the LM words) of each position, -1 for specials.
        segments: frame segments; ``units`` are LM token ids, :data:`NO_TARGET` where none;
            ``bounds`` mark each word's first token (and silence) as opening a word.
        target_pos: int32 (K,) per segment, the position of ``input_ids`` whose token it
            is (-1 without a target).
    """

    input_ids: np.ndarray
    word_of: np.ndarray
    segments: Segments
    target_pos: np.ndarray

    def predicted_positions(self) -> np.ndarray:
        """Sorted distinct positions whose prediction some segment uses."""
        return np.unique(self.target_pos[self.target_pos >= 0])

    def digest_fields(self) -> Tuple[bytes, ...]:
        """What determines the teacher's predictions (for cache keys)."""
        return (self.input_ids.tobytes(), self.word_of.tobytes(), self.predicted_positions().astype(np.int32).tobytes())


def _char_words(words: Sequence[str]) -> Tuple[str, np.ndarray]:
    """The text (words joined by spaces) and each character's word index (-1: space)."""
    owner: List[int] = []
    for i, w in enumerate(words):
        if i:
            owner.append(-1)
        owner.extend(-1 if c.isspace() else i for c in w)
    return " ".join(words), np.asarray(owner, dtype=np.int64)


def _assign_tokens(offsets: Sequence[Tuple[int, int]], special: Sequence[int], owner: np.ndarray,
                   n_words: int, utt: str) -> Tuple[np.ndarray, np.ndarray]:
    """(word index, character weight) per position; weight 0 where the token predicts nothing."""
    word_of = np.full(len(offsets), -1, dtype=np.int32)
    weight = np.zeros(len(offsets), dtype=np.int32)
    pending: List[int] = []  # space-only tokens waiting for the next word
    for p, ((s, e), sp) in enumerate(zip(offsets, special)):
        if sp:
            continue
        chars = owner[s:e]
        chars = chars[chars >= 0]
        if chars.size == 0:
            pending.append(p)
            continue
        w = int(chars[0])
        if np.any(chars != w):
            raise TokenizationError(f"{utt}: an LM token spans the words {w + 1} and {int(chars.max()) + 1}")
        word_of[pending + [p]] = w
        pending = []
        weight[p] = chars.size
    if pending:
        word_of[pending] = n_words - 1
    missing = sorted(set(range(n_words)) - set(word_of[weight > 0].tolist()))
    if missing:
        raise TokenizationError(f"{utt}: word {missing[0] + 1} has no LM token of its own")
    return word_of, weight


def tokenize_words(words: Sequence[str], encode: Encoder, bos_id: Optional[int] = None,
                   utt: str = "") -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tokenise an utterance's LM words once.

    Args:
        words: the LM text of each word (no None).
        encode: the tokenizer: text → (ids with specials, character offsets, special mask).
        bos_id: for a causal LM, prepended when the tokenizer's first position is no
            special token (so the first word is predicted from BOS).
        utt: utterance id for messages.

    Returns:
        (input_ids int32 (L,), word_of int32 (L,), weight int32 (L,): characters of the
        word that each position's token holds, 0 for specials and space-only tokens).

    Raises:
        TokenizationError: when a token spans two words or a word gets no token.
    """
    text, owner = _char_words(words)
    ids, offsets, special = encode(text)
    if len(ids) != len(offsets) or len(ids) != len(special):
        raise TokenizationError(f"{utt}: the tokenizer returned {len(ids)} ids, {len(offsets)} offsets")
    word_of, weight = _assign_tokens(offsets, special, owner, len(words), utt)
    ids = np.asarray(ids, dtype=np.int32)
    if bos_id is not None and (len(special) == 0 or not special[0]):
        ids = np.concatenate([[bos_id], ids]).astype(np.int32)
        word_of = np.concatenate([[-1], word_of]).astype(np.int32)
        weight = np.concatenate([[0], weight]).astype(np.int32)
    return ids, word_of, weight


def lm_token_segments(spans: Sequence[Span], normalizer: WordNormalizer, encode: Encoder,
                      bos_id: Optional[int] = None, utt: str = "") -> LMTokens:
    """An utterance's LM input and frame segments from its word spans.

    Args:
        spans: (word or None for silence, start, end) tiling the utterance's frames, in
            order (:func:`kaldi_kd.units.alignment.word_spans`).
        normalizer: lexicon words → LM text.
        encode, bos_id: see :func:`tokenize_words`.
        utt: utterance id for messages.

    Raises:
        TokenizationError: naming the utterance (no LM word at all, tokens across words).
    """
    texts = normalizer.lm_words([w for w, _, _ in spans if w is not None])
    kept = [t for t in texts if t is not None and t.strip()]
    if not kept:
        raise TokenizationError(f"{utt}: no word for the LM (all silence or skipped)")
    ids, word_of, weight = tokenize_words(kept, encode, bos_id, utt)
    units: List[int] = []
    ends: List[int] = []
    pos: List[int] = []
    bounds: List[int] = []  # group codes: a word's first token (and silence) opens a word
    it = iter(texts)
    lm_word = 0
    for word, s, e in spans:
        text = next(it) if word is not None else None
        if text is None or not text.strip():
            if units and units[-1] == NO_TARGET and ends[-1] == s:
                ends[-1] = e
            else:
                units.append(NO_TARGET)
                ends.append(e)
                pos.append(-1)
                bounds.append(WORD_START)
            continue
        positions = np.flatnonzero((word_of == lm_word) & (weight > 0))
        lm_word += 1
        piece_ends = split_frames(s, e, weight[positions].tolist())
        positions = positions[: len(piece_ends)]
        units.extend(int(ids[p]) for p in positions)
        ends.extend(piece_ends)
        pos.extend(int(p) for p in positions)
        bounds.extend([WORD_START] + [CONTINUES] * (len(positions) - 1))
    seg = Segments(np.asarray(units, np.int32), np.asarray(ends, np.int32), np.asarray(bounds, np.int8))
    return LMTokens(ids, word_of, seg, np.asarray(pos, np.int32))
