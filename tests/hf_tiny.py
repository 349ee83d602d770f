"""Tiny local Hugging Face LMs for the hf-teacher tests: nothing is downloaded.

Tokenizers are built with ``tokenizers`` (trained on the test's LM text, or from a given
WordPiece vocabulary) and models are randomly initialised GPT-2 / BERT configurations,
all saved with ``save_pretrained`` into a temporary directory, exactly as a user's model
directory on disk looks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, List, Sequence

import torch

BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
EOT = "<|endoftext|>"


def bpe_tokenizer(lines: Iterable[str], vocab_size: int = 300):
    """A GPT-2 style byte-level BPE tokenizer trained on ``lines`` (a PreTrainedTokenizerFast)."""
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
    """A BERT style WordPiece tokenizer (lower-casing), trained on ``lines`` or from ``vocab``."""
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
            vocab_size=vocab_size, special_tokens=BERT_SPECIALS, show_progress=False))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]",
                                                       special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]")


def save_gpt2(out_dir: Path, tokenizer, seed: int = 0, n_embd: int = 16, n_layer: int = 1) -> Path:
    """A randomly initialised GPT-2 (causal) with ``tokenizer``, saved to ``out_dir``."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    eot = tokenizer.convert_tokens_to_ids(EOT)
    cfg = GPT2Config(vocab_size=len(tokenizer), n_embd=n_embd, n_layer=n_layer, n_head=2, n_positions=128,
                     bos_token_id=eot, eos_token_id=eot)
    out_dir.mkdir(parents=True, exist_ok=True)
    GPT2LMHeadModel(cfg).save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def save_bert(out_dir: Path, tokenizer, seed: int = 0, hidden: int = 16, layers: int = 1) -> Path:
    """A randomly initialised BERT masked LM with ``tokenizer``, saved to ``out_dir``."""
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
                     intermediate_size=2 * hidden, max_position_embeddings=128, pad_token_id=tokenizer.pad_token_id)
    out_dir.mkdir(parents=True, exist_ok=True)
    BertForMaskedLM(cfg).save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def lm_lines(words: Sequence[str], n: int = 200, seed: int = 0) -> List[str]:
    """Random sentences over ``words`` (the test's LM text)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        k = int(torch.randint(1, 7, (1,), generator=g))
        out.append(" ".join(words[int(i)] for i in torch.randint(0, len(words), (k,), generator=g)))
    return out
