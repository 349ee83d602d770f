"""Disk cache of a frozen LM's top-k predictions per utterance (computed once, resumable).

A pretrained teacher is frozen and its input per utterance is fixed, so its predictions
are computed once and reused across epochs, runs and ablation systems.  Layout::

    <root>/<key>/meta.json        what the key was made of (model/tokenizer digests, kind, dtype, k)
    <root>/<key>/part-R-NNNNN.pt  utterances' top-k logits float32 (P, k) and token ids int32 (P, k)

``key`` hashes the model's files, the tokenizer's files, the teacher kind, its dtype, k
and the format version, so a changed model or tokenizer gets a new, empty directory.
Each entry also carries a digest of the utterance's LM input (ids, word grouping,
predicted positions), so a changed transcript or normalisation option recomputes only
that utterance.  Logits are stored raw (temperature is applied when targets are made),
so one cache serves every tau.  Parts are written atomically every ``part_utts``
utterances: a killed run loses at most one part and the next run computes only what is
missing.  Under DDP every utterance has a fixed owner rank, which computes it when it is
missing; after a barrier every rank reads every part.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch

from kaldi_kd.data.atomic import atomic_path, write_text_atomic
from kaldi_kd.units.lm_words import LMTokens

PathLike = Union[str, os.PathLike]
log = logging.getLogger("kaldi_kd.kd")

CACHE_VERSION = 1
TopK = Tuple[torch.Tensor, torch.Tensor]  # logits float32 (P, k), token ids (P, k)


def utterance_digest(tokens: LMTokens) -> str:
    """sha256 (hex, 32 chars) of what the teacher's predictions for an utterance depend on."""
    h = hashlib.sha256()
    for part in tokens.digest_fields():
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()[:32]


class TopKCache:
    """Per-utterance top-k logits under ``<root>/<key>/`` (``root`` None: memory only).

    Args:
        root: cache root directory, or None for no disk cache.
        key_fields: what the predictions depend on besides the input (JSON-serialisable).
    """

    def __init__(self, root: Optional[PathLike], key_fields: Mapping[str, object]) -> None:
        self.key_fields = {**dict(key_fields), "version": CACHE_VERSION}
        blob = json.dumps(self.key_fields, sort_keys=True).encode()
        self.key = hashlib.sha256(blob).hexdigest()[:20]
        self.dir = Path(root) / self.key if root else None

    def load(self) -> Dict[str, Tuple[str, torch.Tensor, torch.Tensor]]:
        """utt -> (digest, logits, ids) of every stored part (later parts win)."""
        out: Dict[str, Tuple[str, torch.Tensor, torch.Tensor]] = {}
        if self.dir is None or not self.dir.is_dir():
            return out
        for part in sorted(self.dir.glob("part-*.pt")):
            try:
                data = torch.load(part, map_location="cpu", weights_only=True)
            except Exception as e:  # a damaged part is recomputed, not fatal
                log.warning("hf cache: cannot read %s (%s); its utterances are recomputed", part, e)
                continue
            vals = torch.split(data["values"], data["lengths"])
            ids = torch.split(data["indices"], data["lengths"])
            for u, d, v, i in zip(data["utts"], data["digests"], vals, ids):
                out[u] = (d, v, i)
        return out

    def save_part(self, rank: int, entries: Sequence[Tuple[str, str, torch.Tensor, torch.Tensor]]) -> Optional[Path]:
        """Write (utt, digest, logits, ids) entries as one new part, atomically; return its path."""
        if self.dir is None or not entries:
            return None
        self.dir.mkdir(parents=True, exist_ok=True)
        meta = self.dir / "meta.json"
        if not meta.exists():
            write_text_atomic(meta, json.dumps(self.key_fields, indent=1, sort_keys=True) + "\n")
        taken = [int(p.stem.split("-")[2]) for p in self.dir.glob(f"part-{rank}-*.pt")]
        path = self.dir / f"part-{rank}-{max(taken, default=-1) + 1:05d}.pt"
        data = {"utts": [e[0] for e in entries], "digests": [e[1] for e in entries],
                "lengths": [int(e[2].shape[0]) for e in entries],
                "values": torch.cat([e[2].float() for e in entries]),
                "indices": torch.cat([e[3].to(torch.int32) for e in entries])}
        with atomic_path(path) as tmp:
            torch.save(data, tmp)
        return path


def _dist() -> Tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def cached_topk(
    teacher,
    items: Mapping[str, LMTokens],
    k: int,
    cache: TopKCache,
    chunk_utts: int = 32,
    part_utts: int = 256,
    progress: bool = True,
) -> Dict[str, TopK]:
    """Top-k logits and token ids of every utterance, from the cache or computed (and stored).

    Args:
        teacher: an :class:`~kaldi_kd.lm.hf.HFTeacher` (``topk(items, k)``).
        items: utt -> its LM input.
        k: kept predictions per token.
        cache: where stored parts are read and new ones written.
        chunk_utts: utterances per ``teacher.topk`` call.
        part_utts: utterances per written part (the most a killed run loses).
        progress: show a progress bar for the utterances computed.

    Returns:
        utt -> (logits float32 (P, k), ids long (P, k)) in prediction order.
    """
    from tqdm import tqdm

    digests = {u: utterance_digest(t) for u, t in items.items()}
    stored = cache.load()
    have = {u: (v, i.long()) for u, (d, v, i) in stored.items() if digests.get(u) == d and v.shape[1] >= k}
    missing = sorted(u for u in items if u not in have)
    rank, world = _dist() if cache.dir is not None else (0, 1)  # without a disk cache every rank computes all
    # a fixed owner per utterance (not a share of what this rank found missing: ranks may look
    # at the cache at different times, and every missing utterance must have exactly one owner)
    owner = {u: n % world for n, u in enumerate(sorted(items))}
    mine = [u for u in missing if owner[u] == rank]
    if cache.dir is not None:
        log.info("hf cache %s: %d of %d utterances cached, %d to compute%s", cache.dir, len(have), len(items),
                 len(missing), f" ({len(mine)} on rank {rank})" if world > 1 else "")
    pending: List[Tuple[str, str, torch.Tensor, torch.Tensor]] = []
    bar = tqdm(total=len(mine), unit="utt", desc="hf teacher targets", disable=not progress or not mine)
    for c in range(0, len(mine), chunk_utts):
        utts = mine[c : c + chunk_utts]
        for u, (v, i) in zip(utts, teacher.topk([items[u] for u in utts], k)):
            have[u] = (v, i)
            pending.append((u, digests[u], v, i))
        bar.update(len(utts))
        if len(pending) >= part_utts:
            cache.save_part(rank, pending)
            pending = []
    cache.save_part(rank, pending)
    bar.close()
    if world > 1:  # every rank, always: ranks may disagree on whether anything was missing
        torch.distributed.barrier()
        stored = cache.load()
        for u in missing:
            if u not in have:
                d, v, i = stored[u]
                have[u] = (v, i.long())
    return {u: (v[:, :k], i[:, :k]) for u, (v, i) in have.items()}
