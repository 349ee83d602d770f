"""Teacher LM training, perplexity and frozen loading.

Exp dir layout (``exp/lm_<unit>/``)::

    config.yaml      LMConfig (model + training), written at start
    units.txt        the unit vocabulary (copied from the corpus dir)
    ckpt/last.pt     model + optimiser + step, written atomically every N steps
    teacher.pt       final weights (what load_teacher reads)
    ppl              held-out perplexity of the final model ("valid_ppl <x> tokens <n>")
    log/train.log    losses and held-out perplexities along training

Perplexity is exp(mean −log q_k(s_k)) over the held-out units, with q_k from
``segment_logits`` (for ``masked`` that is the pseudo-perplexity, one position
masked at a time — exactly what soft targets use).  No end-of-sentence token is
predicted: teachers output the V real units only.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple, Union

import numpy as np
import torch
import yaml
from tqdm import tqdm

from kaldi_kd.data.atomic import atomic_path, write_text_atomic
from kaldi_kd.errors import InputError, MissingFileError
from kaldi_kd.lm.corpus import corpus_files, load_sequences, read_vocab
from kaldi_kd.lm.models import ModelConfig, UnitLM
from kaldi_kd.train.checkpoint import restore_num_threads

PathLike = Union[str, os.PathLike]
log = logging.getLogger("kaldi_kd.lm")


@dataclass
class LMConfig:
    """Teacher LM config; every default in one place (small: trains on CPU in ~1 min on digits).

    Attributes:
        kind: "causal" | "masked" | "bidir".
        d_model, n_heads, n_layers, d_ff, dropout: architecture (see ModelConfig).
        max_len: training sequences longer than this are randomly cropped.
        batch_size: sequences per step.
        max_steps: optimiser steps.
        lr, weight_decay, warmup_steps, grad_clip: AdamW and schedule (linear
            warmup, then cosine decay to lr/10).
        mask_prob: fraction of positions masked per sequence (masked kind; >= 1 per sequence).
        checkpoint_every, valid_every: steps between checkpoints / held-out perplexities.
        max_valid_seqs: held-out sequences scored (0 = all).
        seed: RNG seed.
        device: "auto" (cuda if available) | "cpu" | "cuda[:i]".
        num_threads: torch CPU threads (0 = torch's default).
    """

    # the architecture fields take their defaults from ModelConfig (see model_config())
    kind: str = ModelConfig.kind
    d_model: int = ModelConfig.d_model
    n_heads: int = ModelConfig.n_heads
    n_layers: int = ModelConfig.n_layers
    d_ff: int = ModelConfig.d_ff
    dropout: float = ModelConfig.dropout
    max_len: int = 256
    batch_size: int = 32
    max_steps: int = 600
    lr: float = 3e-3
    weight_decay: float = 0.01
    warmup_steps: int = 50
    grad_clip: float = 1.0
    mask_prob: float = 0.15
    checkpoint_every: int = 200
    valid_every: int = 200
    max_valid_seqs: int = 200
    seed: int = 1
    device: str = "auto"
    num_threads: int = 0

    def model_config(self) -> ModelConfig:
        names = {f.name for f in dataclasses.fields(ModelConfig)}
        return ModelConfig(**{k: v for k, v in dataclasses.asdict(self).items() if k in names})

    @classmethod
    def from_yaml(cls, path: PathLike, **overrides) -> "LMConfig":
        """Load a YAML config; unknown keys are rejected naming the file."""
        data = yaml.safe_load(Path(path).read_text()) or {}
        return cls.from_dict(data, source=str(path), **overrides)

    @classmethod
    def from_dict(cls, data: Dict, source: str = "config", **overrides) -> "LMConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        bad = sorted(set(data) - known)
        if bad:
            raise InputError(f"{source}: unknown LM config keys {bad} (check the spelling; known: "
                             f"{', '.join(sorted(known))})")
        data = {**data, **{k: v for k, v in overrides.items() if v is not None}}
        return cls(**data)

    def save(self, path: PathLike) -> None:
        write_text_atomic(path, yaml.safe_dump(dataclasses.asdict(self), sort_keys=False))


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def pad_batch(seqs: List[np.ndarray], pad: int = 0) -> Tuple[torch.Tensor, torch.Tensor]:
    """Pad int sequences to (N, Kmax) long + lengths (N,)."""
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    out = torch.full((len(seqs), int(lengths.max())), pad, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.from_numpy(s.astype(np.int64))
    return out, lengths


def crop(seq: np.ndarray, max_len: int, rng: np.random.Generator) -> np.ndarray:
    if len(seq) <= max_len:
        return seq
    start = int(rng.integers(0, len(seq) - max_len + 1))
    return seq[start : start + max_len]


def training_loss(model: UnitLM, units: torch.Tensor, lengths: torch.Tensor, cfg: LMConfig,
                  gen: torch.Generator) -> Tuple[torch.Tensor, int]:
    """Mean cross-entropy over predicted positions and their count."""
    valid = torch.arange(units.shape[1], device=units.device)[None, :] < lengths[:, None]
    inputs = units
    if model.kind == "masked":
        r = torch.rand(units.shape, generator=gen).to(units.device)
        r = r.masked_fill(~valid, 2.0)
        chosen = r < cfg.mask_prob
        first = r.argmin(dim=1)  # at least one masked position per sequence
        chosen[torch.arange(units.shape[0]), first] = True
        valid = chosen & valid
        inputs = units.masked_fill(valid, model.mask_id)
    logits = model(inputs, lengths)
    loss = torch.nn.functional.cross_entropy(logits[valid].float(), units[valid])
    return loss, int(valid.sum())


@torch.no_grad()
def perplexity(model: UnitLM, seqs: List[np.ndarray], device: torch.device, batch_size: int = 32) -> Tuple[float, int]:
    """Held-out perplexity exp(mean −log q_k(s_k)) and the number of units scored."""
    was_training = model.training
    model.eval()
    nll, count = 0.0, 0
    for i in range(0, len(seqs), batch_size):
        units, lengths = pad_batch(seqs[i : i + batch_size])
        units, lengths = units.to(device), lengths.to(device)
        logp = torch.log_softmax(model.segment_logits(units, lengths), dim=-1)
        tok = logp.gather(2, units[:, :, None])[:, :, 0]
        valid = torch.arange(units.shape[1], device=device)[None, :] < lengths[:, None]
        nll -= float(tok[valid].sum())
        count += int(valid.sum())
    model.train(was_training)
    return (math.exp(nll / count) if count else float("nan")), count


def _lr_at(step: int, cfg: LMConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    frac = (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


def _save_checkpoint(path: Path, model: UnitLM, opt: torch.optim.Optimizer, step: int) -> None:
    with atomic_path(path) as tmp:
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
                    "num_threads": torch.get_num_threads()}, tmp)


def _setup_logging(exp_dir: Path) -> None:
    (exp_dir / "log").mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(exp_dir / "log" / "train.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)


def train_lm(corpus_dir: PathLike, exp_dir: PathLike, cfg: LMConfig, resume: bool = False,
             progress: bool = True) -> float:
    """Train a teacher LM on a unit corpus; returns the final held-out perplexity.

    Args:
        corpus_dir: unit-corpus dir with units.txt, train.txt.gz, valid.txt.gz.
        exp_dir: output dir (see the module docstring for its files).
        cfg: the LMConfig.
        resume: continue from exp_dir/ckpt/last.pt when it exists.
        progress: show a tqdm bar.
    """
    files = corpus_files(corpus_dir)
    for name, p in files.items():
        if not p.exists():
            raise MissingFileError(p)
    exp_dir = Path(exp_dir)
    _setup_logging(exp_dir)
    vocab = read_vocab(files["vocab"])
    train = load_sequences(files["train"], len(vocab))   # read (and checked) before anything is written
    valid = load_sequences(files["valid"], len(vocab))
    if not train:
        raise InputError(f"{files['train']}: holds no sequences (rebuild it with steps_py/make_unit_corpus.py)")
    shutil.copyfile(files["vocab"], exp_dir / "units.txt")
    cfg.save(exp_dir / "config.yaml")
    if cfg.max_valid_seqs:
        valid = valid[: cfg.max_valid_seqs]
    device = resolve_device(cfg.device)
    if cfg.num_threads > 0:
        torch.set_num_threads(cfg.num_threads)
    torch.manual_seed(cfg.seed)
    model = UnitLM(len(vocab), cfg.model_config()).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    step = 0
    ckpt = exp_dir / "ckpt" / "last.pt"
    if resume and ckpt.exists():
        state = torch.load(ckpt, map_location=device)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step = int(state["step"])
        restore_num_threads(int(state.get("num_threads", 0)), device)
        log.info("resumed from %s at step %d", ckpt, step)
    log.info("kind=%s vocab=%d train_seqs=%d valid_seqs=%d params=%d device=%s", cfg.kind, len(vocab),
             len(train), len(valid), sum(p.numel() for p in model.parameters()), device)
    autocast = device.type == "cuda"
    model.train()
    bar = tqdm(total=cfg.max_steps, initial=step, disable=not progress, desc=f"lm {cfg.kind}")
    t0 = time.time()
    while step < cfg.max_steps:
        rng = np.random.default_rng([cfg.seed, step])  # reproducible across --resume
        gen = torch.Generator().manual_seed(cfg.seed * 100003 + step)
        torch.manual_seed(cfg.seed * 100019 + step)    # dropout masks too: a step never depends on the last
        idx = rng.integers(0, len(train), cfg.batch_size)
        units, lengths = pad_batch([crop(train[i], cfg.max_len, rng) for i in idx])
        for g in opt.param_groups:
            g["lr"] = _lr_at(step, cfg)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
            loss, _ = training_loss(model, units.to(device), lengths.to(device), cfg, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.3f}")
        if step % 50 == 0:
            log.info("step %d loss %.4f lr %.2e", step, loss.item(), _lr_at(step - 1, cfg))
        if step % cfg.valid_every == 0 and valid:
            ppl, n = perplexity(model, valid, device)
            log.info("step %d valid_ppl %.3f (%d units)", step, ppl, n)
        if step % cfg.checkpoint_every == 0 or step == cfg.max_steps:
            _save_checkpoint(ckpt, model, opt, step)
    bar.close()
    ppl, n = perplexity(model, valid, device) if valid else (float("nan"), 0)
    with atomic_path(exp_dir / "teacher.pt") as tmp:
        torch.save({"model": model.state_dict(), "vocab_size": len(vocab), "config": dataclasses.asdict(cfg)}, tmp)
    write_text_atomic(exp_dir / "ppl", f"valid_ppl {ppl:.4f} tokens {n} vocab {len(vocab)}\n")
    log.info("done: step %d valid_ppl %.3f (%d units) vocab %d in %.1fs", step, ppl, n, len(vocab), time.time() - t0)
    return ppl


def load_teacher(exp_dir: PathLike, device: Union[str, torch.device] = "cpu") -> UnitLM:
    """Frozen teacher from ``exp_dir/teacher.pt``: eval mode, no grad, on ``device``.

    Raises:
        FileNotFoundError: naming teacher.pt when training has not finished.
    """
    path = Path(exp_dir) / "teacher.pt"
    if not path.exists():
        raise MissingFileError(path, "train_lm not finished?")
    state = torch.load(path, map_location="cpu")
    cfg = LMConfig.from_dict(state["config"], source=str(path))
    model = UnitLM(int(state["vocab_size"]), cfg.model_config())
    model.load_state_dict(state["model"])
    model.eval().requires_grad_(False)
    return model.to(torch.device(device))
