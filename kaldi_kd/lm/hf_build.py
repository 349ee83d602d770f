"""Build small Hugging Face LMs locally (no download): tokenizers trained on given text and
randomly initialised GPT-2 (causal) / BERT (masked) models, saved as a model directory.

For tests, benchmarks and demos of the ``hf:<dir>`` teacher: the directories are laid out
as any downloaded model's (``config.json``, ``model.safetensors``, ``tokenizer.json``), so
they go through exactly the loading path a user's model does.  Needs ``[hf]``.

Example:
    >>> tok = bpe_tokenizer(["one two three", "two three four"], vocab_size=300)   # doctest: +SKIP
    >>> save_model("exp/lm_gpt2_tiny", gpt2_model(tok, n_embd=32, n_layer=2), tok)  # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Optional, Sequence, Union

import torch

PathLike = Union[str, os.PathLike]
BERT_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
EOT = "<|endoftext|>"


def bpe_tokenizer(lines: Iterable[str], vocab_size: int = 300):
    """A GPT-2 style byte-level BPE tokenizer trained on ``lines`` (a fast tokenizer; BOS = EOS = EOT)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=True)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOT], min_frequency=1,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(list(lines), trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=EOT, eos_token=EOT)


def wordpiece_tokenizer(lines: Iterable[str] = (), vocab: Sequence[str] = (), vocab_size: int = 120):
    """A BERT style lower-casing WordPiece tokenizer, trained on ``lines`` or made from ``vocab``
    (the specials come first), with the ``[CLS] text [SEP]`` template."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if vocab:
        words = list(BERT_SPECIALS) + [v for v in vocab if v not in BERT_SPECIALS]
        tok = Tokenizer(models.WordPiece({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    else:
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    if not vocab:
        tok.train_from_iterator(list(lines), trainers.WordPieceTrainer(
            vocab_size=vocab_size, special_tokens=list(BERT_SPECIALS), show_progress=False))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]",
                                                       special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]")


def gpt2_model(tokenizer, vocab_size: Optional[int] = None, n_embd: int = 16, n_layer: int = 1, n_head: int = 2,
               n_positions: int = 128, seed: int = 0):
    """A randomly initialised GPT2LMHeadModel for ``tokenizer`` (``vocab_size`` >= its size)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    eot = tokenizer.convert_tokens_to_ids(EOT)
    cfg = GPT2Config(vocab_size=vocab_size or len(tokenizer), n_embd=n_embd, n_layer=n_layer, n_head=n_head,
                     n_positions=n_positions, bos_token_id=eot, eos_token_id=eot)
    return GPT2LMHeadModel(cfg)


def bert_model(tokenizer, vocab_size: Optional[int] = None, hidden: int = 16, layers: int = 1, heads: int = 2,
               intermediate: Optional[int] = None, max_positions: int = 128, seed: int = 0):
    """A randomly initialised BertForMaskedLM for ``tokenizer`` (``vocab_size`` >= its size)."""
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=vocab_size or len(tokenizer), hidden_size=hidden, num_hidden_layers=layers,
                     num_attention_heads=heads, intermediate_size=intermediate or 4 * hidden,
                     max_position_embeddings=max_positions, pad_token_id=tokenizer.pad_token_id)
    return BertForMaskedLM(cfg)


def save_model(out_dir: PathLike, model, tokenizer) -> Path:
    """Save ``model`` and ``tokenizer`` as a local model directory; return it."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
