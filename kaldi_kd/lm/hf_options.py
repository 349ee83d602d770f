"""Options of a Hugging Face teacher (``--teacher subword=hf:<model-dir>``), light to import.

A teacher spec ``hf:<dir>`` names a local directory holding a ``transformers`` causal or
masked LM (``config.json``, weights) and its fast tokenizer (``tokenizer.json``).  Nothing
is downloaded: models load with ``local_files_only=True``.  The options below say how the
lexicon's words become the LM's text, how the LM is run and where its soft targets are
cached; :mod:`kaldi_kd.lm.hf` does the work (and needs ``pip install -e .[hf]``).

Example:
    >>> is_hf_spec("hf:/models/gpt2"), str(hf_model_dir("hf:/models/gpt2"))
    (True, '/models/gpt2')
    >>> HFOptions(case="sentence").validate().case
    'sentence'
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Dict, Mapping, Union

HF_PREFIX = "hf:"
HF_DEFAULT_TOP_K = 8
KINDS = ("auto", "causal", "masked")
CASES = ("keep", "lower", "upper", "sentence")
VOCABS = ("reduced", "full")
DTYPES = ("auto", "float32", "bfloat16", "float16")


class HFOptionsError(ValueError):
    """A bad Hugging Face teacher option (the message names it)."""


@dataclass
class HFOptions:
    """Every option of an hf teacher with its default (``--hf-<name>`` on train_am.py).

    Attributes:
        kind: "causal" (p(token | earlier tokens)), "masked" (each word's tokens predicted
            with the whole word masked) or "auto" (from ``architectures`` in config.json).
        case: lexicon word -> LM text: "keep", "lower", "upper", or "sentence" (lower case,
            the utterance's first letter upper case).  Applied after ``spelling``.
        spelling: a file of ``<lexicon-word> <LM text...>`` lines (e.g. ``COLOUR color``,
            ``MR mister``); the text replaces the word before ``case`` applies.
        skip: regular expression of non-lexical words (noise marks, ``<unk>``): they are
            left out of the LM's text and their frames get no target, as silence.
        vocab: the auxiliary head's output units: "reduced" (the LM tokens of the
            utterances plus the teacher's top-k tokens, mapped once at start-up) or
            "full" (the LM's whole vocabulary).
        cache: directory of the soft-target cache ("" = none: recomputed every run;
            train_am.py defaults it to ``<ali-dir>/hf_targets``).
        batch_tokens: padded tokens per LM forward pass (lower it when memory is short).
        dtype: "auto" = bfloat16 on CUDA, float32 on CPU.
    """

    kind: str = "auto"
    case: str = "keep"
    spelling: str = ""
    skip: str = r"^[<\[].*[>\]]$"
    vocab: str = "reduced"
    cache: str = ""
    batch_tokens: int = 4096
    dtype: str = "auto"

    def validate(self) -> "HFOptions":
        """Raise :class:`HFOptionsError` on a bad value; return self."""
        for name, allowed in (("kind", KINDS), ("case", CASES), ("vocab", VOCABS), ("dtype", DTYPES)):
            if getattr(self, name) not in allowed:
                raise HFOptionsError(f"--hf-{name} {getattr(self, name)!r}: choose from {', '.join(allowed)}")
        if int(self.batch_tokens) < 1:
            raise HFOptionsError(f"--hf-batch-tokens must be >= 1, got {self.batch_tokens}")
        try:
            re.compile(self.skip)
        except re.error as e:
            raise HFOptionsError(f"--hf-skip {self.skip!r} is not a regular expression: {e}") from None
        if self.spelling and not Path(self.spelling).is_file():
            raise HFOptionsError(f"--hf-spelling: expected file {self.spelling} to exist")
        return self

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "HFOptions":
        """Options from a (kd.yaml) mapping; unknown keys raise :class:`HFOptionsError`."""
        known = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise HFOptionsError(f"unknown hf teacher options {unknown} (known: {', '.join(known)})")
        return cls(**{k: (int(v) if k == "batch_tokens" else str(v)) for k, v in data.items()})

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


def is_hf_spec(spec: Union[str, os.PathLike]) -> bool:
    """Whether a ``--teacher`` value names a Hugging Face model (``hf:<dir>``)."""
    return str(spec).startswith(HF_PREFIX)


def hf_model_dir(spec: Union[str, os.PathLike]) -> Path:
    """The model directory of an ``hf:<dir>`` spec.

    Raises:
        HFOptionsError: when the spec is not ``hf:<dir>`` or the directory is empty.
    """
    text = str(spec)
    if not is_hf_spec(text) or not text[len(HF_PREFIX):]:
        raise HFOptionsError(f"teacher '{text}': expected hf:<local model dir>")
    return Path(text[len(HF_PREFIX):])


OPTION_HELP = {
    "kind": "causal | masked | auto (from config.json's architectures)",
    "case": "lexicon word -> LM text case: keep | lower | upper | sentence",
    "spelling": "file of '<lexicon-word> <LM text...>' lines applied before --hf-case",
    "skip": "regex of non-lexical words left out of the LM text (no target, like silence)",
    "vocab": "aux head units: reduced (utterances' tokens + teacher top-k) | full (whole LM vocabulary)",
    "cache": "soft-target cache dir (train_am.py's default: <ali-dir>/hf_targets)",
    "batch_tokens": "padded tokens per LM forward pass",
    "dtype": "auto (bf16 on CUDA, fp32 on CPU) | float32 | bfloat16 | float16",
}
