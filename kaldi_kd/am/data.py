"""Training data for the hybrid AM: features + frame targets (pdf-ids) in batches.

Pipeline: ``feats.scp`` (+ per-speaker ``cmvn.scp``, optional deltas/splicing, through
:class:`kaldi_kd.data.features.FeatureReader`) and ``<ali-dir>/ali.N.gz``
(transition-ids, mapped to pdf-ids with the transition model's
``transition_id_to_pdf_array``, like ``ali-to-pdf``) -> :func:`load_am_data` (frame
counts must match exactly, else :class:`FrameCountError` lists the utterances;
utterances without alignment are skipped with a warning; a seeded held-out subset by
utterance) -> :class:`UtteranceDataset` (whole utterances) or :class:`ChunkDataset`
(fixed-width chunks with left/right context, targets on the central frames only) ->
:class:`BucketBatchSampler` (length-bucketed, frame budget per batch, seeded shuffle per
epoch, sharding by rank, position save/restore for exact resume) ->
:func:`make_loader` (DataLoader with workers) -> :class:`Batch`.

``Batch`` (the contract other areas code against):

* ``feats (B,T,F)`` float32, padded with zeros; ``lengths (B,)`` valid input frames;
* ``targets (B,T')`` long pdf-ids at the model's output rate (T' = ceil(T/s), frame
  j <-> input frame j*s), -100 where there is no target (padding, chunk context);
* ``utt_ids`` the utterance of each row;
* ``starts (B,)`` long: the utterance output frame of row b's first frame, i.e.
  ``logits[b, j]`` is output frame ``starts[b] + j`` of utterance ``utt_ids[b]``
  (0 for whole utterances; for chunks, the first frame *including* left context,
  which is clipped at the utterance start, so starts >= 0);
* ``mask (B,T')`` bool: frames that carry a target (``targets != -100``).
"""

from __future__ import annotations

import logging
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm import tqdm

from kaldi_kd.data.features import FeatureReader
from kaldi_kd.data.tables import read_int_vectors, read_table
from kaldi_kd.errors import InputError, KaldiKdError, MissingFileError

PathLike = Union[str, os.PathLike]
log = logging.getLogger(__name__)


@dataclass
class Batch:
    feats: Tensor
    lengths: Tensor
    targets: Tensor
    utt_ids: List[str]
    starts: Tensor
    mask: Tensor

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "Batch":
        """The batch with every tensor on ``device``."""
        return Batch(self.feats.to(device, non_blocking=non_blocking),
                     self.lengths.to(device, non_blocking=non_blocking),
                     self.targets.to(device, non_blocking=non_blocking),
                     list(self.utt_ids),
                     self.starts.to(device, non_blocking=non_blocking),
                     self.mask.to(device, non_blocking=non_blocking))

    @property
    def num_target_frames(self) -> int:
        return int(self.mask.sum())

    def pin_memory(self) -> "Batch":
        return Batch(self.feats.pin_memory(), self.lengths.pin_memory(), self.targets.pin_memory(),
                     self.utt_ids, self.starts.pin_memory(), self.mask.pin_memory())


# ---------------------------------------------------------------------------
# configuration

@dataclass
class DataConfig:
    """Every data option with its default.

    Attributes:
        cmvn: apply per-speaker CMVN from ``cmvn.scp``.
        norm_vars: also normalise variances.
        deltas: delta order (0 = none, 2 = deltas + delta-deltas).
        splice_left, splice_right: frame splicing (usually 0 for TDNN/BLSTM/Conformer).
        batching: "utterance" (whole utterances, bucketed by length) or "chunk".
        max_frames: padded input frames per batch (B * T_max) for training.
        max_utts: at most this many rows per batch (0 = no limit).
        bucket_noise: relative length noise before sorting (0 = strictly sorted).
        chunk_width: central (target-carrying) input frames per chunk.
        chunk_left_context, chunk_right_context: extra input frames around a chunk
            (clipped at the utterance edges; they carry no targets).
        num_workers: DataLoader worker processes.
        valid_fraction, valid_max_utts: held-out validation subset by utterance.
    """

    cmvn: bool = True
    norm_vars: bool = False
    deltas: int = 0
    splice_left: int = 0
    splice_right: int = 0
    batching: str = "utterance"
    max_frames: int = 20000
    max_utts: int = 0
    bucket_noise: float = 0.1
    chunk_width: int = 150
    chunk_left_context: int = 30
    chunk_right_context: int = 30
    num_workers: int = 0
    valid_fraction: float = 0.1
    valid_max_utts: int = 300


class FrameCountError(KaldiKdError, ValueError):
    """Features and alignments disagree on frame counts; the message lists the utterances."""


# ---------------------------------------------------------------------------
# features

class FeatureSource:
    """utt -> processed float32 (T, F) features of a Kaldi data dir.

    A thin layer over :class:`kaldi_kd.data.features.FeatureReader` (per-speaker CMVN
    from ``cmvn.scp``, deltas, splicing, as configured in :class:`DataConfig`) that also
    gives frame counts.

    Raises:
        FileNotFoundError: naming ``feats.scp`` when it is missing.
        FeatureError: (from the data layer) naming file and utterance otherwise.
    """

    def __init__(self, data_dir: PathLike, cfg: DataConfig):
        self.data_dir = Path(data_dir)
        if not (self.data_dir / "feats.scp").exists():
            raise MissingFileError(self.data_dir / 'feats.scp')
        self.reader = FeatureReader(self.data_dir, cmvn=cfg.cmvn, deltas=cfg.deltas,
                                    splice=(cfg.splice_left, cfg.splice_right),
                                    norm_vars=cfg.norm_vars)

    def utts(self) -> List[str]:
        return self.reader.utts

    def __getitem__(self, utt: str) -> np.ndarray:
        return self.reader[utt]

    def num_frames(self) -> Dict[str, int]:
        """utt -> frame count, from ``utt2num_frames`` when present, else by reading."""
        if (self.data_dir / "utt2num_frames").exists():
            return self.reader.dir.utt2num_frames()
        return {utt: int(arr.shape[0]) for utt, arr in
                tqdm(read_table(f"scp:{self.data_dir / 'feats.scp'}"), desc="frame counts",
                     disable=None, leave=False)}

    @property
    def dim(self) -> int:
        return int(self.reader.dim)


class FeatureDimError(KaldiKdError, ValueError):
    """The features do not have the dimension the model was built for."""


def check_feature_dim(features: FeatureSource, input_dim: int, model: str) -> None:
    """Raise :class:`FeatureDimError` unless ``features`` (after CMVN, deltas and splicing)
    have ``input_dim`` columns, the input size of ``model`` (named in the message)."""
    if features.dim != int(input_dim):
        raise FeatureDimError(
            f"{features.data_dir / 'feats.scp'}: features of dim {features.dim} (after the model's "
            f"CMVN/deltas/splicing), but {model} expects dim {input_dim} (give the kind of features "
            f"the model was trained on, e.g. the *_fbank data dir, or train a model on these)")


# ---------------------------------------------------------------------------
# alignments

def transition_id_to_pdf(trans_model) -> np.ndarray:
    """int32 array a with a[tid] = pdf-id (index 0 unused), from a kaldi_hmm_gmm TransitionModel."""
    return np.asarray(trans_model.transition_id_to_pdf_array(), dtype=np.int32)


def ali_files(ali_dir: PathLike) -> List[Path]:
    """``ali.N.gz`` of an alignment dir in job order; error if there are none."""
    files = sorted(Path(ali_dir).glob("ali.*.gz"), key=lambda p: int(p.name.split(".")[1])
                   if p.name.split(".")[1].isdigit() else 0)
    if not files:
        raise MissingFileError(f"{Path(ali_dir)}/ali.*.gz", "run steps_py/align_si.py first")
    return files


def load_pdf_alignments(ali_dir: PathLike, tid2pdf: np.ndarray) -> Dict[str, np.ndarray]:
    """Read every ``ali.N.gz`` (transition-ids) of ``ali_dir`` and map to pdf-ids (``ali-to-pdf``).

    Raises:
        ValueError: naming file and utterance for an out-of-range transition-id.
    """
    out: Dict[str, np.ndarray] = {}
    for path in ali_files(ali_dir):
        for utt, tids in read_int_vectors(str(path)):
            if tids.size and (tids.min() < 1 or tids.max() >= len(tid2pdf)):
                raise InputError(f"{path}: utterance '{utt}' has transition-ids outside "
                                 f"1..{len(tid2pdf) - 1} (alignment from another model?)")
            out[utt] = tid2pdf[tids].astype(np.int32)
    return out


def check_frame_counts(num_frames: Mapping[str, int], alis: Mapping[str, np.ndarray],
                       where: str = "") -> None:
    """Raise FrameCountError listing every utterance whose feature and alignment lengths differ."""
    bad = [(u, num_frames[u], len(a)) for u, a in alis.items() if u in num_frames and num_frames[u] != len(a)]
    if bad:
        shown = ", ".join(f"{u} (features {f}, alignment {a})" for u, f, a in bad[:20])
        more = f" and {len(bad) - 20} more" if len(bad) > 20 else ""
        raise FrameCountError(f"{where}frame counts of features and alignments differ for "
                              f"{len(bad)} utterance(s): {shown}{more}")


def split_heldout(utts: Sequence[str], fraction: float, max_utts: int, seed: int
                  ) -> Tuple[List[str], List[str]]:
    """Seeded held-out split by utterance -> (train, valid); valid has
    ``min(max_utts, round(fraction * N))`` utterances (at least 1 if fraction > 0 and N > 1)."""
    utts = sorted(utts)
    n = min(int(max_utts), int(round(fraction * len(utts))))
    if fraction > 0 and len(utts) > 1:
        n = max(n, 1)
    rng = random.Random(seed)
    valid = set(rng.sample(utts, n)) if n else set()
    return [u for u in utts if u not in valid], sorted(valid)


# ---------------------------------------------------------------------------
# datasets and collation

class Example(NamedTuple):
    """One row before padding: features, input-rate targets (-100 = none), first input frame."""

    utt: str
    feats: np.ndarray
    targets: np.ndarray
    start: int


class UtteranceDataset(Dataset):
    """Whole utterances with their pdf alignments; item i = ``utts[i]``."""

    def __init__(self, features: FeatureSource, alis: Mapping[str, np.ndarray], utts: Sequence[str]):
        self.features, self.alis, self.utts = features, alis, list(utts)

    def __len__(self) -> int:
        return len(self.utts)

    def item_lengths(self) -> List[int]:
        return [len(self.alis[u]) for u in self.utts]

    def __getitem__(self, i: int) -> Example:
        utt = self.utts[i]
        x = self.features[utt]
        if x.shape[0] != len(self.alis[utt]):
            raise FrameCountError(f"utterance '{utt}': features have {x.shape[0]} frames, "
                                  f"alignment {len(self.alis[utt])}")
        return Example(utt, x, self.alis[utt].astype(np.int64), 0)


class ChunkDataset(Dataset):
    """Fixed-width chunks with left/right context; targets only on the central frames.

    Chunk c of an utterance of T frames covers central input frames
    ``[c*W, min((c+1)*W, T))`` and feeds frames ``[max(0, c*W - L), min(T, (c+1)*W + R))``
    (context is clipped at the utterance edges, not padded).  With subsampling s, W, L
    and R must be multiples of s so every chunk starts on an output frame.
    """

    def __init__(self, features: FeatureSource, alis: Mapping[str, np.ndarray], utts: Sequence[str],
                 width: int, left: int, right: int, subsampling: int = 1):
        for name, v in (("chunk_width", width), ("chunk_left_context", left),
                        ("chunk_right_context", right)):
            if v < 0 or v % subsampling or (name == "chunk_width" and v == 0):
                raise InputError(f"{name}={v} must be a (positive for width) multiple of subsampling={subsampling}")
        self.features, self.alis = features, alis
        self.chunks: List[Tuple[str, int, int, int, int]] = []
        for u in utts:
            t = len(alis[u])
            for c0 in range(0, t, width):
                c1 = min(c0 + width, t)
                self.chunks.append((u, max(0, c0 - left), min(t, c1 + right), c0, c1))

    def __len__(self) -> int:
        return len(self.chunks)

    def item_lengths(self) -> List[int]:
        return [e - s for _, s, e, _, _ in self.chunks]

    def __getitem__(self, i: int) -> Example:
        utt, s, e, c0, c1 = self.chunks[i]
        x = self.features[utt]
        if x.shape[0] != len(self.alis[utt]):
            raise FrameCountError(f"utterance '{utt}': features have {x.shape[0]} frames, "
                                  f"alignment {len(self.alis[utt])}")
        tgt = np.full(e - s, -100, dtype=np.int64)
        tgt[c0 - s:c1 - s] = self.alis[utt][c0:c1]
        return Example(utt, x[s:e], tgt, s)


class Collator:
    """Pad examples into a :class:`Batch` at the model's output rate (targets[::s])."""

    def __init__(self, subsampling: int = 1):
        self.subsampling = int(subsampling)

    def __call__(self, examples: Sequence[Example]) -> Batch:
        s = self.subsampling
        b = len(examples)
        t_max = max(e.feats.shape[0] for e in examples)
        t_out = -(-t_max // s)
        feats = torch.zeros(b, t_max, examples[0].feats.shape[1])
        targets = torch.full((b, t_out), -100, dtype=torch.long)
        for i, e in enumerate(examples):
            feats[i, : e.feats.shape[0]] = torch.from_numpy(e.feats)
            tg = torch.from_numpy(e.targets[::s])
            targets[i, : tg.shape[0]] = tg
        lengths = torch.tensor([e.feats.shape[0] for e in examples], dtype=torch.long)
        starts = torch.tensor([e.start // s for e in examples], dtype=torch.long)
        return Batch(feats, lengths, targets, [e.utt for e in examples], starts, targets != -100)


# ---------------------------------------------------------------------------
# sampling

class BucketBatchSampler(Sampler[List[int]]):
    """Length-bucketed batches with a frame budget, seeded shuffling, rank sharding and
    an exactly restorable position.

    Each epoch: items are sorted by length (times ``1 + noise * U(0,1)`` when shuffling),
    packed greedily while ``rows * longest <= max_frames`` (and ``rows <= max_utts``),
    and the batch order is shuffled with ``seed + epoch``.  With ``world_size > 1`` the
    batch list (identical on every rank) is cut to a multiple of ``world_size`` (repeated
    when shorter) and rank r takes batches r, r+W, ... so every rank runs the same
    number of steps.  ``load_state_dict({"epoch": e, "position": p})`` makes the next
    iteration be epoch e starting after its first p batches (of this rank).
    """

    def __init__(self, lengths: Sequence[int], max_frames: int, max_utts: int = 0,
                 shuffle: bool = True, seed: int = 0, bucket_noise: float = 0.1,
                 rank: int = 0, world_size: int = 1):
        if max_frames < 1:
            raise ValueError(f"max_frames must be >= 1, got {max_frames}")
        if not lengths:
            raise ValueError("no items to sample from")
        self.lengths = list(lengths)
        self.max_frames, self.max_utts = int(max_frames), int(max_utts)
        self.shuffle, self.seed, self.noise = shuffle, int(seed), float(bucket_noise)
        self.rank, self.world_size = int(rank), int(world_size)
        self.epoch = 0
        self.position = 0

    def set_epoch(self, epoch: int) -> None:
        """Start epoch ``epoch`` from its beginning at the next iteration."""
        self.epoch, self.position = int(epoch), 0

    def state_dict(self, position: Optional[int] = None) -> Dict[str, int]:
        """``{"epoch", "position"}``; pass the number of batches consumed so far this epoch."""
        return {"epoch": self.epoch, "position": self.position if position is None else int(position)}

    def load_state_dict(self, state: Mapping[str, int]) -> None:
        self.epoch, self.position = int(state["epoch"]), int(state["position"])

    def _all_batches(self) -> List[List[int]]:
        rng = random.Random(self.seed + 1000003 * self.epoch)
        keys = [(l * (1.0 + self.noise * rng.random()) if self.shuffle else l, i)
                for i, l in enumerate(self.lengths)]
        batches: List[List[int]] = []
        cur: List[int] = []
        longest = 0
        for _, i in sorted(keys):
            l = self.lengths[i]
            full = (max(longest, l) * (len(cur) + 1) > self.max_frames
                    or (self.max_utts and len(cur) >= self.max_utts))
            if cur and full:
                batches.append(cur)
                cur, longest = [], 0
            cur.append(i)
            longest = max(longest, l)
        if cur:
            batches.append(cur)
        if self.shuffle:
            rng.shuffle(batches)
        return batches

    def _my_batches(self) -> List[List[int]]:
        batches = self._all_batches()
        w = self.world_size
        if w > 1:
            if len(batches) < w:
                batches = (batches * w)[:w]
            batches = batches[: len(batches) // w * w][self.rank::w]
        return batches

    def __len__(self) -> int:
        return len(self._my_batches())

    def __iter__(self) -> Iterator[List[int]]:
        start = self.position
        self.position = 0
        yield from self._my_batches()[start:]


def make_loader(dataset: Dataset, sampler: BucketBatchSampler, subsampling: int,
                num_workers: int = 0, seed: int = 0, pin_memory: bool = False) -> DataLoader:
    """A DataLoader over ``sampler``'s batches producing :class:`Batch`.

    It has its own ``torch.Generator`` so creating an iterator never draws from the
    global torch RNG (exact resume: dropout masks depend only on the restored RNG).
    """
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=Collator(subsampling),
                      num_workers=num_workers, pin_memory=pin_memory,
                      generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------------------
# putting it together

@dataclass
class AmData:
    """Features + pdf alignments of a training run, split into train/valid utterances."""

    features: FeatureSource
    alis: Dict[str, np.ndarray]
    train_utts: List[str]
    valid_utts: List[str]

    def dataset(self, utts: Sequence[str], cfg: DataConfig, subsampling: int, chunked: bool) -> Dataset:
        if chunked:
            return ChunkDataset(self.features, self.alis, utts, cfg.chunk_width,
                                cfg.chunk_left_context, cfg.chunk_right_context, subsampling)
        return UtteranceDataset(self.features, self.alis, utts)


def load_am_data(data_dir: PathLike, ali_dir: PathLike, tid2pdf: np.ndarray, cfg: DataConfig,
                 seed: int = 0) -> AmData:
    """Load features (lazily) and pdf alignments, check frame counts, split off validation.

    Utterances without an alignment are dropped with a warning (as Kaldi's trainers do);
    utterances whose frame counts differ raise :class:`FrameCountError` listing them.
    """
    features = FeatureSource(data_dir, cfg)
    alis = load_pdf_alignments(ali_dir, tid2pdf)
    num_frames = features.num_frames()
    check_frame_counts(num_frames, alis, where=f"{data_dir} vs {ali_dir}: ")
    utts = [u for u in features.utts() if u in alis]
    missing = len(num_frames) - len(utts)
    if missing:
        log.warning("%d of %d utterances of %s have no alignment in %s; skipped",
                    missing, len(num_frames), data_dir, ali_dir)
    if not utts:
        raise InputError(f"no utterance of {data_dir} has an alignment in {ali_dir}")
    train, valid = split_heldout(utts, cfg.valid_fraction, cfg.valid_max_utts, seed)
    return AmData(features, {u: alis[u] for u in utts}, train, valid)


def count_pdfs(alis: Mapping[str, np.ndarray], num_pdfs: int) -> np.ndarray:
    """Frame counts per pdf-id over alignments (float64, length num_pdfs)."""
    counts = np.zeros(num_pdfs, dtype=np.float64)
    for a in alis.values():
        counts += np.bincount(a, minlength=num_pdfs)[:num_pdfs]
    return counts
