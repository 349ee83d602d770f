"""The AM training loop: AdamW + warm-up/decay, clipping, bf16 autocast (CUDA), pluggable
objective, validation, best/final checkpoints, exact resume, DDP.

The loop optimises ``model.parameters()`` only; the objective (``CEObjective``,
``KDObjective``, ...) is called as ``objective(model, batch) -> (loss, stats)`` and may
own frozen modules (moved to the device when it is an ``nn.Module``).  Every key of
``stats`` is averaged over ``log_every`` steps and written to ``log/train.log`` and
tensorboard (``train/<key>``); validation writes ``valid/ce`` and ``valid/frame_acc``.

Distributed: call :func:`train` in every process after ``init_distributed()``; the
model is wrapped in DistributedDataParallel (rank 0's initial weights are broadcast),
each rank reads its own shard of batches (:class:`~kaldi_kd.am.data.BucketBatchSampler`
with rank/world_size, the same number of batches on every rank), rank 0 validates and
writes checkpoints/logs; checkpoints hold every rank's RNG state and every rank resumes
from rank 0's file (the exp dir must be on a shared filesystem across nodes).
Command lines (see ``steps_py/train_am.py``)::

    # one node, 4 GPUs (nccl)
    torchrun --standalone --nproc_per_node=4 steps_py/train_am.py \
        --config conf/am_tdnn.yaml data/train_fbank exp/tri1_ali exp/tdnn
    # CPU, 2 processes (gloo)
    torchrun --standalone --nproc_per_node=2 steps_py/train_am.py --opt device=cpu ...
    # two nodes x 8 GPUs
    torchrun --nnodes=2 --node_rank=$NODE --nproc_per_node=8 --rdzv_backend=c10d \
        --rdzv_endpoint=$HOST0:29400 steps_py/train_am.py ...
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple, Union

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from kaldi_kd.am.objective import frame_ce
from kaldi_kd.errors import InputError
from kaldi_kd.train.checkpoint import (checkpoint_path, latest_checkpoint, load_checkpoint,
                                       restore_num_threads, rng_state, rotate_checkpoints,
                                       save_checkpoint, set_rng_state)
from kaldi_kd.train.config import OptimConfig, TrainConfig

PathLike = Union[str, os.PathLike]
log = logging.getLogger("kaldi_kd.train")


# ---------------------------------------------------------------------------
# optimiser and schedule

def build_optimizer(model: nn.Module, cfg: OptimConfig) -> torch.optim.Optimizer:
    """AdamW; no weight decay on 1-D parameters (biases, norm gains)."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps)


def lr_factor(step: int, cfg: OptimConfig, total_steps: int) -> float:
    """Multiplier of ``cfg.lr`` after ``step`` optimiser steps."""
    warm = max(int(cfg.warmup_steps), 0)
    s = step + 1
    if cfg.schedule == "noam":
        w = max(warm, 1)
        return min(s / w, math.sqrt(w / s))
    if warm and s <= warm:
        return s / warm
    if cfg.schedule == "constant":
        return 1.0
    if cfg.schedule != "cosine":
        raise InputError(f"optim.schedule must be cosine, noam or constant, got {cfg.schedule!r}")
    progress = min(max((s - warm) / max(total_steps - warm, 1), 0.0), 1.0)
    return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def build_scheduler(opt: torch.optim.Optimizer, cfg: OptimConfig, total_steps: int):
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda step: lr_factor(step, cfg, total_steps))


# ---------------------------------------------------------------------------
# distributed helpers

def init_distributed(device_type: str = "cpu") -> Tuple[int, int, int]:
    """Init the process group from torchrun's environment -> (rank, world_size, local_rank).

    Backend nccl on CUDA, gloo on CPU.  Without ``WORLD_SIZE`` (> 1): (0, 1, 0), no group.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, 0
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
    if device_type == "cuda":
        torch.cuda.set_device(local)
    return rank, world, local


def _world() -> Tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def resolve_device(name: str, local_rank: Optional[int] = None) -> torch.device:
    """"auto"/"cpu"/"cuda"/"cuda:N" -> device; "cuda" means this process's LOCAL_RANK GPU."""
    if local_rank is None:
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        name = f"cuda:{local_rank}"
    return torch.device(name)


# ---------------------------------------------------------------------------
# logging

def setup_logging(exp_dir: PathLike, rank: int = 0) -> None:
    """Log to ``exp_dir/log/train.log`` (rank 0) and stderr."""
    if rank != 0:
        return
    path = Path(exp_dir) / "log" / "train.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger("kaldi_kd")
    root.setLevel(logging.INFO)
    for h in list(root.handlers):
        if getattr(h, "_kaldi_kd_train", False):
            root.removeHandler(h)
            h.close()
    fh = logging.FileHandler(path)
    fh._kaldi_kd_train = True  # type: ignore[attr-defined]
    fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root.addHandler(fh)


class _Board:
    """Tensorboard scalars on rank 0 (silently off when tensorboard is missing)."""

    def __init__(self, log_dir: Path, enabled: bool):
        self.writer = None
        if enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter
                self.writer = SummaryWriter(str(log_dir))
            except Exception as err:  # pragma: no cover
                log.warning("tensorboard disabled: %s", err)

    def scalars(self, prefix: str, values: Dict[str, float], step: int) -> None:
        if self.writer is not None:
            for k, v in values.items():
                self.writer.add_scalar(f"{prefix}/{k}", v, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


# ---------------------------------------------------------------------------
# validation

@torch.no_grad()
def validate(model: nn.Module, loader: DataLoader, device: torch.device, bf16: bool = False
             ) -> Dict[str, float]:
    """Frame CE and accuracy of the main head over ``loader`` -> {"ce", "frame_acc", "frames"}."""
    was_training = model.training
    model.eval()
    ce_sum, n, correct = 0.0, 0, 0
    for batch in loader:
        batch = batch.to(device)
        with _autocast(device, bf16):
            out = model(batch.feats, batch.lengths)
        ce, nb, cb = frame_ce(out.logits, batch.targets)
        ce_sum, n, correct = ce_sum + float(ce), n + int(nb), correct + int(cb)
    model.train(was_training)
    n1 = max(n, 1)
    return {"ce": ce_sum / n1, "frame_acc": correct / n1, "frames": float(n)}


def _autocast(device: torch.device, bf16: bool):
    if bf16 and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


# ---------------------------------------------------------------------------
# the loop

def model_checkpoint(model: nn.Module, step: int, valid: Optional[Dict[str, float]]) -> Dict[str, Any]:
    """``best.pt``/``final.pt`` content: weights + model config."""
    return {"model": model.state_dict(), "model_config": model.config_dict(), "step": step,
            "valid": dict(valid or {})}


class _Run:
    """State of one training run (kept together so train() stays short)."""

    def __init__(self, model, objective, train_loader, valid_loader, cfg, exp_dir, device):
        self.rank, self.world = _world()
        self.cfg, self.exp_dir, self.device = cfg, Path(exp_dir), device
        self.model = model.to(device)
        if isinstance(objective, nn.Module):
            objective.to(device)
        self.objective = objective
        self.net: nn.Module = self.model
        if self.world > 1:
            ids = [device.index] if device.type == "cuda" else None
            self.net = DistributedDataParallel(self.model, device_ids=ids,
                                               find_unused_parameters=cfg.find_unused_parameters)
        self.train_loader, self.valid_loader = train_loader, valid_loader
        self.sampler = train_loader.batch_sampler
        steps_per_epoch = len(train_loader)
        self.total_steps = cfg.max_steps or cfg.num_epochs * steps_per_epoch
        self.opt = build_optimizer(self.model, cfg.optim)
        self.sched = build_scheduler(self.opt, cfg.optim, self.total_steps)
        self.step, self.epoch, self.position = 0, 0, 0
        self.best = math.inf
        self.last_valid: Dict[str, float] = {}
        self.validated_step = -1
        self.ckpt_dir = self.exp_dir / "checkpoints"
        self.board = _Board(self.exp_dir / "tensorboard", self.rank == 0)

    # -- checkpoints
    def state(self) -> Dict[str, Any]:
        rngs = [rng_state()]
        if self.world > 1:
            rngs = [None] * self.world
            dist.all_gather_object(rngs, rng_state())
        return {"model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
                "scheduler": self.sched.state_dict(), "step": self.step,
                "sampler": {"epoch": self.epoch, "position": self.position},
                "rng": rngs, "best": self.best, "config": asdict(self.cfg),
                "num_threads": torch.get_num_threads()}

    def save(self) -> None:
        state = self.state()   # collective under DDP: every rank takes part
        if self.rank == 0:
            save_checkpoint(checkpoint_path(self.ckpt_dir, self.step), state)
            rotate_checkpoints(self.ckpt_dir, self.cfg.keep_checkpoints)

    def restore(self) -> bool:
        path = latest_checkpoint(self.ckpt_dir)
        if path is None:
            log.warning("--resume: no checkpoint in %s; starting from scratch", self.ckpt_dir)
            return False
        st = load_checkpoint(path, map_location="cpu")
        self.model.load_state_dict(st["model"])
        self.opt.load_state_dict(st["optimizer"])
        self.sched.load_state_dict(st["scheduler"])
        self.step, self.best = int(st["step"]), float(st["best"])
        self.epoch, self.position = int(st["sampler"]["epoch"]), int(st["sampler"]["position"])
        rngs = st["rng"]
        set_rng_state(rngs[self.rank] if len(rngs) == self.world else rngs[0])
        restore_num_threads(int(st.get("num_threads", 0)), self.device)
        log.info("resumed from %s: step %d, epoch %d, batch %d", path, self.step, self.epoch,
                 self.position)
        return True

    # -- validation
    def maybe_validate(self) -> None:
        self.validated_step = self.step
        if self.rank == 0 and self.valid_loader is not None and len(self.valid_loader) > 0:
            v = validate(self.model, self.valid_loader, self.device, self.cfg.bf16)
            self.last_valid = v
            self.board.scalars("valid", v, self.step)
            log.info("step %d valid: ce %.4f frame_acc %.4f (%d frames)", self.step, v["ce"],
                     v["frame_acc"], int(v["frames"]))
            if v["ce"] < self.best:
                self.best = v["ce"]
                save_checkpoint(self.exp_dir / "best.pt", model_checkpoint(self.model, self.step, v))
        if self.world > 1:
            best = [self.best]
            dist.broadcast_object_list(best, src=0)
            self.best = best[0]

    # -- one step
    def train_step(self, batch) -> Dict[str, float]:
        batch = batch.to(self.device, non_blocking=True)
        with _autocast(self.device, self.cfg.bf16):
            loss, stats = self.objective(self.net, batch)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.optim.grad_clip > 0:
            gn = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.optim.grad_clip)
            stats = dict(stats, grad_norm=float(gn))
        self.opt.step()
        self.sched.step()
        if hasattr(self.model, "constrain"):
            self.model.constrain()
        self.step += 1
        return dict(stats, lr=self.sched.get_last_lr()[0])

    def done(self) -> bool:
        return self.step >= self.total_steps


def _log_stats(run: _Run, acc: Dict[str, float], n: int) -> None:
    if run.rank != 0 or n == 0:
        return
    avg = {k: v / n for k, v in acc.items()}
    run.board.scalars("train", avg, run.step)
    log.info("step %d epoch %d: %s", run.step, run.epoch,
             " ".join(f"{k} {v:.4g}" for k, v in sorted(avg.items())))


def train_one_epoch(run: _Run) -> None:
    """Run the rest of epoch ``run.epoch`` (from ``run.position``), stopping at max steps."""
    cfg = run.cfg
    run.sampler.load_state_dict({"epoch": run.epoch, "position": run.position})
    acc: Dict[str, float] = defaultdict(float)
    n = 0
    bar = tqdm(run.train_loader, desc=f"epoch {run.epoch}", disable=run.rank != 0 or None,
               leave=False, initial=run.position, total=len(run.train_loader))
    for batch in bar:
        stats = run.train_step(batch)
        run.position += 1
        for k, v in stats.items():
            acc[k] += float(v)
        n += 1
        if run.step % cfg.log_every == 0:
            _log_stats(run, acc, n)
            if run.rank == 0:
                bar.set_postfix(loss=f"{acc['loss'] / n:.3f}")
            acc, n = defaultdict(float), 0
        if cfg.valid_every and run.step % cfg.valid_every == 0:
            run.maybe_validate()
        if cfg.checkpoint_every and run.step % cfg.checkpoint_every == 0:
            run.save()
        if run.done():
            break
    _log_stats(run, acc, n)
    bar.close()


def train(model: nn.Module, objective: Callable, train_loader: DataLoader,
          valid_loader: Optional[DataLoader], cfg: TrainConfig, exp_dir: PathLike,
          resume: bool = False, device: Optional[torch.device] = None) -> Dict[str, Any]:
    """Train ``model`` with ``objective``; write checkpoints, best.pt, final.pt under ``exp_dir``.

    Args:
        model: a HybridModel (unwrapped; DDP wrapping happens here when a process
            group is initialised).
        objective: ``objective(model, batch) -> (loss, stats)``.
        train_loader: from :func:`kaldi_kd.am.data.make_loader` (its batch_sampler must
            be a BucketBatchSampler: exact resume restores its epoch/position).
        valid_loader: validation batches, or None.
        cfg: the run's TrainConfig.
        exp_dir: output directory.
        resume: continue from the newest ``exp_dir/checkpoints/step_*.pt``.
        device: default from ``cfg.device``.
    Returns:
        {"step", "epoch", "best_valid_ce", "valid"}.
    """
    device = device or resolve_device(cfg.device)
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    rank, world = _world()
    if world > 1:                     # decorrelate dropout across ranks (resume restores per rank)
        torch.manual_seed(cfg.seed + 7919 * rank)
    run = _Run(model, objective, train_loader, valid_loader, cfg, exp_dir, device)
    if not (resume and run.restore()):
        log.info("training %d steps (%d batches/epoch/rank, world %d) on %s", run.total_steps,
                 len(train_loader), run.world, device)
    run.net.train()
    while not run.done() and (cfg.max_steps or run.epoch < cfg.num_epochs):
        if run.position >= len(train_loader):
            run.epoch, run.position = run.epoch + 1, 0
            continue
        train_one_epoch(run)
        if run.position >= len(train_loader):
            if not cfg.valid_every:
                run.maybe_validate()
            run.epoch, run.position = run.epoch + 1, 0
            if cfg.checkpoint_every:
                run.save()
    if run.validated_step != run.step:
        run.maybe_validate()
    if run.rank == 0:
        save_checkpoint(run.exp_dir / "final.pt", model_checkpoint(run.model, run.step, run.last_valid))
        if not (run.exp_dir / "best.pt").exists():
            save_checkpoint(run.exp_dir / "best.pt", model_checkpoint(run.model, run.step, run.last_valid))
    run.board.close()
    log.info("done: step %d, best valid ce %.4f", run.step, run.best)
    return {"step": run.step, "epoch": run.epoch, "best_valid_ce": run.best, "valid": run.last_valid}
