"""Tiny local Hugging Face LMs for the hf-teacher tests (kaldi_kd.lm.hf_build): nothing is
downloaded; tokenizers are trained on the test's LM text with ``tokenizers`` (or made from a
given WordPiece vocabulary) and models are randomly initialised GPT-2 / BERT, saved with
``save_pretrained`` exactly as a user's model directory on disk."""

from __future__ import annotations

from pathlib import Path
from typing import List, Sequence

import torch

from kaldi_kd.lm.hf_build import bert_model, bpe_tokenizer, gpt2_model, save_model, wordpiece_tokenizer  # noqa: F401


def save_gpt2(out_dir: Path, tokenizer, seed: int = 0) -> Path:
    """A 1-layer, 16-wide GPT-2 with ``tokenizer`` in ``out_dir``."""
    return save_model(out_dir, gpt2_model(tokenizer, seed=seed), tokenizer)


def save_bert(out_dir: Path, tokenizer, seed: int = 0) -> Path:
    """A 1-layer, 16-wide BERT masked LM with ``tokenizer`` in ``out_dir``."""
    return save_model(out_dir, bert_model(tokenizer, seed=seed), tokenizer)


def lm_lines(words: Sequence[str], n: int = 200, seed: int = 0) -> List[str]:
    """Random sentences over ``words`` (the test's LM text)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        k = int(torch.randint(1, 7, (1,), generator=g))
        out.append(" ".join(words[int(i)] for i in torch.randint(0, len(words), (k,), generator=g)))
    return out
