"""A local Hugging Face causal or masked LM as a frozen subword teacher.

:func:`load_hf_teacher` loads ``<dir>`` (``config.json``, weights, a fast tokenizer) with
``transformers`` from disk only (``local_files_only``), frozen, on the AM's device, in
bfloat16 on CUDA and float32 on CPU (``--hf-dtype``).  Its tokenizer gives the subword
units (:mod:`kaldi_kd.units.lm_words`); the teacher predicts, for every token that holds
frames, a distribution over the LM's vocabulary:

- causal: p(t_k | t_<k), the LM's next-token prediction at position k-1 (earlier tokens
  of the same word are visible, as a causal LM is trained; a causal LM has no
  distribution over a word's second token without its first);
- masked: every token of word w from one input in which *all* tokens of w are replaced
  by the mask token (one row per word, batched), so no token of the predicted word is
  ever visible; the number of masked tokens is (as in whole-word masking).

Vocabularies of 30-250 k tokens: :meth:`HFTeacher.topk` reduces each chunk of logits to
the top k right after the forward pass, chunks sized so that a chunk's logits stay under
``LOGITS_BUDGET`` elements; no (tokens x V) tensor of a whole batch is ever kept.

Example:
    >>> t = load_hf_teacher("models/gpt2", "cuda")                    # doctest: +SKIP
    >>> toks = t.encode_spans([("HELLO", 0, 30), (None, 30, 40)], WordNormalizer("lower"))  # doctest: +SKIP
    >>> values, indices = t.topk([toks], k=8)[0]                      # doctest: +SKIP
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from kaldi_kd.lm.hf_options import HFOptions
from kaldi_kd.units.alignment import Span
from kaldi_kd.units.lm_words import Encoding, LMTokens, WordNormalizer, lm_token_segments

PathLike = Union[str, os.PathLike]
log = logging.getLogger("kaldi_kd.lm")

LOGITS_BUDGET = 1 << 27  # logits elements (rows x length x V) of one forward pass
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                   "vocab.txt", "vocab.json", "merges.txt", "spiece.model", "sentencepiece.bpe.model",
                   "tokenizer.model")
_SAMPLED_HASH_BYTES = 256 << 20  # files above this are fingerprinted by size, mtime and sampled blocks


class HFUnavailableError(ImportError):
    """``transformers`` is not installed (the hf teacher is an optional extra)."""


def _transformers():
    try:
        import transformers
    except ImportError as e:
        raise HFUnavailableError(
            f"hf teachers need the optional 'transformers' package: pip install -e '.[hf]' ({e})") from None
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    return transformers


def detect_kind(architectures: Optional[Sequence[str]], model_dir: PathLike) -> str:
    """"causal" or "masked" from config.json's ``architectures``.

    Raises:
        ValueError: naming the directory when the architecture says neither (use --hf-kind).
    """
    names = list(architectures or [])
    if any(n.endswith(("ForCausalLM", "LMHeadModel")) for n in names):
        return "causal"
    if any(n.endswith("ForMaskedLM") for n in names):
        return "masked"
    raise ValueError(f"{model_dir}/config.json: cannot tell a causal from a masked LM by its architectures "
                     f"{names}; give --hf-kind causal or --hf-kind masked")


def file_digest(path: Path) -> str:
    """sha256 of a file; files over 256 MiB: of their size, mtime and 16 sampled 1 MiB blocks."""
    h = hashlib.sha256()
    size = path.stat().st_size
    with open(path, "rb") as f:
        if size <= _SAMPLED_HASH_BYTES:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        else:
            h.update(f"{size} {path.stat().st_mtime_ns}".encode())
            for i in range(16):
                f.seek((size - (1 << 20)) * i // 15)
                h.update(f.read(1 << 20))
    return h.hexdigest()


def dir_digest(model_dir: PathLike, select: Callable[[str], bool]) -> str:
    """One digest over the selected files of a directory (names and contents, recursive)."""
    root = Path(model_dir)
    h = hashlib.sha256()
    for p in sorted(q for q in root.rglob("*") if q.is_file()):
        rel = p.relative_to(root).as_posix()
        if select(rel) and not rel.startswith("."):
            h.update(f"{rel}\0{file_digest(p)}\n".encode())
    return h.hexdigest()


class HFTeacher:
    """A frozen ``transformers`` LM and its tokenizer (implements the Teacher protocol).

    Attributes:
        kind: "causal" | "masked".
        span: "word" for the masked teacher (it masks whole words by ``bounds``), else "none".
        vocab_size: V, the LM's output vocabulary (token ids 0..V-1).
        model_dir: where it was loaded from.
        max_length: the LM's longest input (None: unknown).
    """

    def __init__(self, model, tokenizer, kind: str, model_dir: PathLike, options: HFOptions) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.kind = kind
        self.span = "word" if kind == "masked" else "none"  # what a prediction hides (SoftTargetEngine passes bounds)
        self.model_dir = Path(model_dir)
        self.options = options
        out = model.get_output_embeddings()
        self.vocab_size = int(out.weight.shape[0] if out is not None else model.config.vocab_size)
        cfg = model.config
        self.max_length = getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.bos_id = self._bos_id() if kind == "causal" else None
        self.mask_id = tokenizer.mask_token_id
        if kind == "masked" and self.mask_id is None:
            raise ValueError(f"{model_dir}: a masked-LM teacher needs a tokenizer with a mask token")
        self._template: Optional[Tuple[List[int], List[int]]] = None

    def _bos_id(self) -> int:
        tok, cfg = self.tokenizer, self.model.config
        for cand in (tok.bos_token_id, tok.eos_token_id, getattr(cfg, "bos_token_id", None)):
            if cand is not None:
                return int(cand)
        raise ValueError(f"{self.model_dir}: a causal teacher needs a BOS or EOS token to predict the first word")

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    # ---- text → tokens ------------------------------------------------------
    def encode(self, text: str) -> Encoding:
        """(ids with the tokenizer's specials, character offsets, special-token mask)."""
        enc = self.tokenizer(text, add_special_tokens=True, return_offsets_mapping=True,
                             return_special_tokens_mask=True)
        return list(enc["input_ids"]), [tuple(o) for o in enc["offset_mapping"]], list(enc["special_tokens_mask"])

    def encode_spans(self, spans: Sequence[Span], normalizer: WordNormalizer, utt: str = "") -> LMTokens:
        """An utterance's LM input and frame segments (see :mod:`kaldi_kd.units.lm_words`).

        Raises:
            TokenizationError / ValueError: naming the utterance (too long for the LM...).
        """
        toks = lm_token_segments(spans, normalizer, self.encode, self.bos_id, utt)
        if self.max_length and len(toks.input_ids) > self.max_length:
            raise ValueError(f"{utt}: {len(toks.input_ids)} LM tokens, longer than the LM's {self.max_length}")
        return toks

    # ---- scoring ------------------------------------------------------------
    def _rows(self, items: Sequence[LMTokens]) -> List[Tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
        """(item, input ids, positions whose logits to read, their rows among the item's predictions)."""
        rows = []
        for i, it in enumerate(items):
            pred = it.predicted_positions()
            if not pred.size:
                continue
            if self.kind == "causal":
                rows.append((i, it.input_ids, pred - 1, np.arange(pred.size)))
                continue
            for w in np.unique(it.word_of[pred]):
                ids = it.input_ids.copy()
                ids[it.word_of == w] = self.mask_id
                sel = np.flatnonzero(it.word_of[pred] == w)
                rows.append((i, ids, pred[sel], sel))
        return rows

    def _chunks(self, rows) -> Iterator[list]:
        """Rows grouped longest first, each group within batch_tokens and LOGITS_BUDGET."""
        rows = sorted(rows, key=lambda r: -len(r[1]))
        cap = max(1, min(int(self.options.batch_tokens), LOGITS_BUDGET // max(1, self.vocab_size)))
        i = 0
        while i < len(rows):
            n = max(1, cap // len(rows[i][1]))
            yield rows[i : i + n]
            i += n

    @torch.no_grad()
    def _score(self, items: Sequence[LMTokens], reduce: Callable[[torch.Tensor], Tuple[torch.Tensor, ...]]):
        """Per item, ``reduce(logits (P, V) float32)`` pieces assembled in prediction order."""
        if self.model is None:
            raise RuntimeError(f"hf teacher {self.model_dir} was released")
        dev = self.device
        parts: List[List[Tuple[np.ndarray, Tuple[torch.Tensor, ...]]]] = [[] for _ in items]
        for chunk in self._chunks(self._rows(items)):
            length = len(chunk[0][1])
            ids = torch.full((len(chunk), length), self.pad_id, dtype=torch.long)
            att = torch.zeros(len(chunk), length, dtype=torch.long)
            for r, (_, x, _, _) in enumerate(chunk):
                ids[r, : len(x)] = torch.from_numpy(x.astype(np.int64))
                att[r, : len(x)] = 1
            logits = self.model(input_ids=ids.to(dev), attention_mask=att.to(dev)).logits
            row_idx = torch.cat([torch.full((len(c[2]),), r, dtype=torch.long) for r, c in enumerate(chunk)])
            pos_idx = torch.cat([torch.from_numpy(c[2].astype(np.int64)) for c in chunk])
            picked = reduce(logits[row_idx.to(dev), pos_idx.to(dev)].float())
            del logits
            start = 0
            for item, _, read, out_rows in chunk:
                parts[item].append((out_rows, tuple(p[start : start + len(read)].cpu() for p in picked)))
                start += len(read)
        out = []
        for it, pieces in zip(items, parts):
            n = it.predicted_positions().size
            if not pieces:
                out.append(None)
                continue
            order = torch.from_numpy(np.concatenate([r for r, _ in pieces]).astype(np.int64))
            cols = [torch.cat([p[j] for _, p in pieces]) for j in range(len(pieces[0][1]))]
            full = [c.new_zeros((n,) + c.shape[1:]) for c in cols]
            for f, c in zip(full, cols):
                f[order] = c
            out.append(tuple(full))
        return out

    def topk(self, items: Sequence[LMTokens], k: int) -> List[Tuple[torch.Tensor, torch.Tensor]]:
        """Per item, the top-k logits float32 (P, k), descending, and their token ids long (P, k),
        for its P predicted positions (:meth:`LMTokens.predicted_positions` order), on the CPU."""
        k = min(int(k), self.vocab_size)
        res = self._score(items, lambda z: z.topk(k, dim=-1))
        empty = (torch.zeros(0, k), torch.zeros(0, k, dtype=torch.long))
        return [empty if r is None else (r[0], r[1]) for r in res]

    def logits(self, items: Sequence[LMTokens]) -> List[torch.Tensor]:
        """Per item, dense logits float32 (P, V) of its predicted positions (small inputs only)."""
        res = self._score(items, lambda z: (z,))
        return [torch.zeros(0, self.vocab_size) if r is None else r[0] for r in res]

    # ---- the Teacher protocol ------------------------------------------------
    def _specials(self) -> Tuple[List[int], List[int]]:
        """(prefix, suffix) special ids the tokenizer puts around a text (a causal LM gets a BOS)."""
        if self._template is None:
            ids, _, special = self.encode("a")
            first = special.index(0) if 0 in special else len(ids)
            last = len(special) - special[::-1].index(0) if 0 in special else len(ids)
            prefix, suffix = ids[:first], ids[last:]
            if self.kind == "causal" and not prefix:
                prefix = [self.bos_id]
            self._template = (prefix, suffix)
        return self._template

    def wrap_units(self, units: Sequence[int], bounds: Optional[Sequence[int]] = None) -> LMTokens:
        """LMTokens of a token-id sequence (NO_TARGET = -1 entries are silence: not read).

        Args:
            units: LM token ids per segment.
            bounds: per segment, 2 where a word starts (the masked teacher masks whole
                words); None: every token is a word of its own.
        """
        from kaldi_kd.units.segments import Segments

        prefix, suffix = self._specials()
        units = np.asarray(units, dtype=np.int64)
        real = np.flatnonzero(units >= 0)
        if bounds is None:
            starts = np.ones(real.size, dtype=bool)
        else:
            b = np.asarray(bounds)
            starts = (b[real] == 2) | np.r_[True, np.diff(real) > 1]  # silence ends a word too
        word = np.cumsum(starts) - 1
        ids = np.concatenate([prefix, units[real], suffix]).astype(np.int32)
        word_of = np.concatenate([np.full(len(prefix), -1), word, np.full(len(suffix), -1)]).astype(np.int32)
        pos = np.full(units.size, -1, dtype=np.int32)
        pos[real] = len(prefix) + np.arange(real.size)
        seg = Segments(units.astype(np.int32), np.arange(1, units.size + 1, dtype=np.int32))
        return LMTokens(ids, word_of, seg, pos)

    @torch.no_grad()
    def segment_logits(self, units: torch.Tensor, lengths: torch.Tensor,
                       bounds: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Logits (N, K, V) of LM token sequences (rows of -1 silence and padding are 0).

        Args:
            units: long (N, K) LM token ids (-1: silence, no prediction).
            lengths: long (N,) valid lengths.
            bounds: optional long (N, K) boundary codes (2: the unit starts a word); the
                masked teacher masks whole words by them, else token by token.
        """
        n, k = units.shape
        items = [self.wrap_units(units[i, : int(lengths[i])].tolist(),
                                 None if bounds is None else bounds[i, : int(lengths[i])].tolist())
                 for i in range(n)]
        dense = self.logits(items)
        out = torch.zeros(n, k, self.vocab_size)
        for i, (it, z) in enumerate(zip(items, dense)):
            pred = it.predicted_positions()
            seg_rows = np.flatnonzero(it.target_pos >= 0)
            lookup = {int(p): r for r, p in enumerate(pred)}
            for s in seg_rows:
                out[i, s] = z[lookup[int(it.target_pos[s])]]
        return out.to(units.device)

    @torch.no_grad()
    def segment_probs(self, units: torch.Tensor, lengths: torch.Tensor,
                      bounds: Optional[torch.Tensor] = None) -> torch.Tensor:
        """softmax(segment_logits), (N, K, V)."""
        return torch.softmax(self.segment_logits(units, lengths, bounds), dim=-1)

    # ---- identity and memory ---------------------------------------------------
    def fingerprint(self) -> Dict[str, str]:
        """What the teacher's predictions depend on besides their input (cache key)."""
        model = dir_digest(self.model_dir, lambda rel: Path(rel).name not in TOKENIZER_FILES)
        tok = dir_digest(self.model_dir, lambda rel: Path(rel).name in TOKENIZER_FILES)
        return {"model": model, "tokenizer": tok, "kind": self.kind, "dtype": str(self.model.dtype),
                "class": type(self.model).__name__}

    def release(self) -> None:
        """Free the LM (after its targets are cached); the tokenizer stays."""
        dev = self.device if self.model is not None else torch.device("cpu")
        self.model = None
        gc.collect()
        if dev.type == "cuda":
            torch.cuda.empty_cache()


def _dtype(name: str, device: torch.device) -> torch.dtype:
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return getattr(torch, name)


def load_hf_teacher(model_dir: PathLike, device: Union[str, torch.device] = "cpu",
                    options: Optional[HFOptions] = None) -> HFTeacher:
    """Load a local causal or masked LM and its fast tokenizer, frozen, on ``device``.

    Raises:
        FileNotFoundError: naming the missing directory or config.json.
        HFUnavailableError: transformers is not installed.
        ValueError: not a causal/masked LM, no fast tokenizer, no mask/BOS token.
    """
    options = (options or HFOptions()).validate()
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"expected file {model_dir}/config.json to exist (a local Hugging Face model dir)")
    tf = _transformers()
    device = torch.device(device)
    cfg = tf.AutoConfig.from_pretrained(str(model_dir), local_files_only=True)
    kind = options.kind if options.kind != "auto" else detect_kind(getattr(cfg, "architectures", None), model_dir)
    tokenizer = tf.AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(f"{model_dir}: the teacher needs a fast tokenizer (tokenizer.json) for character offsets")
    auto = tf.AutoModelForCausalLM if kind == "causal" else tf.AutoModelForMaskedLM
    model = auto.from_pretrained(str(model_dir), local_files_only=True)
    model = model.to(device=device, dtype=_dtype(options.dtype, device)).eval().requires_grad_(False)
    teacher = HFTeacher(model, tokenizer, kind, model_dir, options)
    log.info("hf teacher %s: %s %s, vocab %d, %s on %s", model_dir, kind, type(model).__name__,
             teacher.vocab_size, model.dtype, device)
    return teacher
