"""Soft targets of a pretrained Hugging Face LM: built once at start-up, served every step.

:func:`build_hf_engine` turns word spans (from the alignment) into the LM's tokens and
frame segments (:mod:`kaldi_kd.units.lm_words`), gets the teacher's top-k predictions of
every token from the disk cache or computes them (:mod:`kaldi_kd.kd.hf_cache`), frees the
LM, and maps the LM's token ids to the auxiliary head's units:

- ``vocab="reduced"`` (default): the head's units are the LM tokens that occur in the
  utterances plus every token in any top-k list, sorted by LM id, mapped once here.  The
  KL is exact on the teacher's renormalised top-k support; the student's softmax runs
  over these units instead of all of the LM's 30-250 k (bench/hf_teacher.py measures
  step time and memory of both);
- ``vocab="full"``: the head has one unit per LM token.

Per segment the target is softmax(top-k logits / tau), renormalised on the top k, in the
same (values, indices, sum q log q) form the SoftTargetEngine cache holds, so the
distillation loss and the frame gather are the existing ones.  Silence and skipped
words have no target: their frames are masked out of the KD loss (the LM has no silence).
"""

from __future__ import annotations

import logging
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from kaldi_kd.kd.hf_cache import TopKCache, cached_topk
from kaldi_kd.kd.soft_targets import SegmentTargets, SoftTargetEngine, SoftTargets
from kaldi_kd.lm.hf_options import HFOptions, hf_model_dir
from kaldi_kd.units.alignment import Span
from kaldi_kd.units.lm_words import LMTokens, TokenizationError, WordNormalizer, read_spelling_map
from kaldi_kd.units.segments import Segments

log = logging.getLogger("kaldi_kd.kd")


class _Precomputed:
    """Stands in for the teacher inside the engine: every target is precomputed."""

    kind = "precomputed"

    def __init__(self, vocab_size: int, name: str) -> None:
        self.vocab_size = int(vocab_size)
        self.name = name

    def segment_logits(self, units, lengths, bounds=None):
        raise RuntimeError(f"hf teacher {self.name}: targets are computed at start-up; this utterance has none")


class HFTargetEngine(SoftTargetEngine):
    """A SoftTargetEngine whose per-utterance targets are all precomputed (top-k over head units).

    Attributes:
        head_tokens: int64 (V_head,) LM token id of each head unit.
        head_symbols: the tokenizer's token string of each head unit.
    """

    def __init__(self, segments: Dict[str, Segments], table: Dict[str, SegmentTargets], head_tokens: np.ndarray,
                 head_symbols: Sequence[str], tau: float, top_k: int, subsampling: int = 1, name: str = "") -> None:
        super().__init__(_Precomputed(len(head_tokens), name), segments, tau=tau, top_k=top_k,
                         subsampling=subsampling, cache=True)
        self._cache.update(table)
        self.head_tokens = head_tokens
        self.head_symbols = list(head_symbols)

    def targets(self, utt_ids, starts, num_frames, device, lengths=None) -> SoftTargets:
        """As :meth:`SoftTargetEngine.targets`, with frames of target-less segments masked."""
        st = super().targets(utt_ids, starts, num_frames, device, lengths=lengths)
        st.mask = st.mask & (st.topk_values.sum(-1) > 0)
        return st


def head_vocabulary(items: Mapping[str, LMTokens], preds: Mapping[str, Tuple[torch.Tensor, torch.Tensor]],
                    lm_vocab_size: int, vocab: str = "reduced") -> np.ndarray:
    """LM token ids of the head's units, sorted: all (``full``) or those of the utterances
    and of the teacher's top-k lists (``reduced``)."""
    if vocab == "full":
        return np.arange(lm_vocab_size, dtype=np.int64)
    seen = [t.segments.units[t.segments.units >= 0].astype(np.int64) for t in items.values()]
    seen += [i.reshape(-1).numpy().astype(np.int64) for _, i in preds.values()]
    return np.unique(np.concatenate(seen)) if seen else np.zeros(0, dtype=np.int64)


def segment_table(tokens: LMTokens, logits: torch.Tensor, ids: torch.Tensor, head_map: np.ndarray,
                  tau: float) -> SegmentTargets:
    """Per segment: renormalised top-k q at ``tau`` (float16), head-unit ids (int32) and sum q log q.

    Args:
        tokens: the utterance's LM input and segments.
        logits, ids: (P, k) top-k logits and LM token ids of its predicted positions.
        head_map: LM token id -> head unit (-1: none).
        tau: temperature.
    """
    k_seg, k = len(tokens.segments), logits.shape[1]
    vals = torch.zeros(k_seg, k)
    idx = torch.zeros(k_seg, k, dtype=torch.int32)
    neg = torch.zeros(k_seg)
    sel = np.flatnonzero(tokens.target_pos >= 0)
    if sel.size:
        rows = torch.from_numpy(np.searchsorted(tokens.predicted_positions(), tokens.target_pos[sel]))
        q = torch.softmax(logits[rows].float() / tau, dim=-1)
        mapped = torch.from_numpy(head_map[ids[rows].numpy()])
        if bool((mapped < 0).any()):
            raise AssertionError("a teacher token has no head unit")
        s = torch.from_numpy(sel)
        vals[s], idx[s], neg[s] = q, mapped.to(torch.int32), torch.special.xlogy(q, q).sum(-1)
    return vals.to(torch.float16), idx, neg


def normalizer_from(options: HFOptions) -> WordNormalizer:
    """The word normaliser the options describe."""
    spelling = read_spelling_map(options.spelling) if options.spelling else {}
    return WordNormalizer(options.case, spelling, options.skip)


def tokenize_all(teacher, spans: Mapping[str, Sequence[Span]], normalizer: WordNormalizer
                 ) -> Tuple[Dict[str, LMTokens], List[str]]:
    """(utt -> LMTokens, failed utterances); failures are logged and get no targets."""
    items: Dict[str, LMTokens] = {}
    failed: List[str] = []
    for utt in sorted(spans):
        try:
            items[utt] = teacher.encode_spans(spans[utt], normalizer, utt)
        except (TokenizationError, ValueError) as e:
            log.warning("hf teacher: skipping %s", e)
            failed.append(utt)
    return items, failed


def build_hf_engine(
    spec: str,
    spans: Mapping[str, Sequence[Span]],
    options: HFOptions,
    tau: float,
    top_k: int,
    subsampling: int = 1,
    device: Union[str, torch.device] = "cpu",
    loader: Optional[Callable] = None,
    progress: bool = True,
) -> HFTargetEngine:
    """Load ``hf:<dir>``, make every utterance's targets (cached), free the LM, return the engine.

    Args:
        spec: ``hf:<local model dir>``.
        spans: utt -> word spans of the training (and validation) utterances.
        options: tokenisation, kind, cache and vocabulary options.
        tau: temperature of the targets.
        top_k: teacher predictions kept per token.
        subsampling: the AM's frame subsampling.
        device: where the LM runs (the AM's device).
        loader: ``(model_dir, device, options) -> HFTeacher`` (default :func:`kaldi_kd.lm.hf.load_hf_teacher`).
        progress: progress bar while targets are computed.

    Raises:
        ValueError: when no utterance could be tokenised.
    """
    if loader is None:
        from kaldi_kd.lm.hf import load_hf_teacher as loader
    options = options.validate()
    teacher = loader(hf_model_dir(spec), device, options)
    items, failed = tokenize_all(teacher, spans, normalizer_from(options))
    if not items:
        raise ValueError(f"hf teacher {spec}: no utterance could be tokenised (see the warnings)")
    k = min(int(top_k), teacher.vocab_size)
    cache = TopKCache(options.cache or None, teacher.fingerprint())
    preds = cached_topk(teacher, items, k, cache, progress=progress)
    lm_vocab = teacher.vocab_size
    teacher.release()
    head = head_vocabulary(items, preds, lm_vocab, options.vocab)
    head_map = np.full(lm_vocab, -1, dtype=np.int64)
    head_map[head] = np.arange(head.size)
    table = {u: segment_table(items[u], *preds[u], head_map, tau) for u in items}
    symbols = teacher.tokenizer.convert_ids_to_tokens(head.tolist())
    n_tok = sum(int((t.segments.units >= 0).sum()) for t in items.values())
    log.info("hf teacher %s: %d utterances (%d skipped), %d token segments, head of %d units (%s; LM vocab %d), "
             "top-%d, tau %.2f", spec, len(items), len(failed), n_tok, head.size, options.vocab, lm_vocab, k, tau)
    segments = {u: t.segments for u, t in items.items()}
    return HFTargetEngine(segments, table, head, symbols, tau, k, subsampling, name=spec)
