"""Sentencepiece subword models for the subword unit level.

The model is trained on the LM text (streamed; lines may start with an utterance
id to skip) with ``<sil>`` as a user-defined symbol (the silence unit) and no
BOS/EOS pieces (teachers need no sentence markers).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Union

from kaldi_kd.errors import MissingFileError

PathLike = Union[str, os.PathLike]


@dataclass
class SpmConfig:
    """Sentencepiece training options (every default in one place).

    Attributes:
        vocab_size: number of pieces including <unk> and <sil>.
        model_type: "unigram" | "bpe" | "char" | "word".
        character_coverage: sentencepiece's character_coverage.
        has_keys: text lines start with an utterance id.
        hard_vocab_limit: False lets tiny corpora end below vocab_size.
    """

    vocab_size: int = 100
    model_type: str = "unigram"
    character_coverage: float = 1.0
    has_keys: bool = False
    hard_vocab_limit: bool = False


def train_spm(text: PathLike, model_path: PathLike, cfg: SpmConfig = SpmConfig()) -> Path:
    """Train a sentencepiece model on ``text``; writes ``model_path`` (.model) and its .vocab.

    Raises:
        FileNotFoundError: naming the text file when it is missing.
    """
    import sentencepiece as spm

    from kaldi_kd.units.text import iter_text

    if not Path(text).exists():
        raise MissingFileError(text)
    model_path = Path(model_path)
    model_path.parent.mkdir(parents=True, exist_ok=True)
    prefix = model_path.with_suffix("")
    sentences = (" ".join(words) for _, words in iter_text(text, cfg.has_keys))
    spm.SentencePieceTrainer.train(
        sentence_iterator=sentences,
        model_prefix=str(prefix),
        vocab_size=cfg.vocab_size,
        model_type=cfg.model_type,
        character_coverage=cfg.character_coverage,
        user_defined_symbols=["<sil>"],
        bos_id=-1,
        eos_id=-1,
        unk_id=0,
        hard_vocab_limit=cfg.hard_vocab_limit,
        minloglevel=2,
    )
    produced = Path(str(prefix) + ".model")
    if produced != model_path:
        os.replace(produced, model_path)
    return model_path


def load_spm(model_path: PathLike):
    """A SentencePieceProcessor for ``model_path`` (naming it when missing)."""
    import sentencepiece as spm

    if not Path(model_path).exists():
        raise MissingFileError(model_path, "run steps_py/train_spm.py first")
    return spm.SentencePieceProcessor(model_file=str(model_path))
