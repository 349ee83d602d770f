"""Teacher LM training, perplexity and frozen loading.

Exp dir layout (``exp/lm_<unit>/``)::

    config.yaml      LMConfig (model + training), written at start
    units.txt        the unit vocabulary (copied from the corpus dir)
    ckpt/last.pt     model + optimiser + step, written atomically every N steps
    teacher.pt       final weights (what load_teacher reads)
    ppl              held-out perplexity of the saved model ("valid_ppl <x> tokens <n>")
    ppl_curve.tsv    the held-out curve: step, train loss, perplexity, entropy, p(true), top-1
    log/train.log    losses and held-out perplexities along training

With ``patience`` > 0 training stops early when the held-out perplexity has not
improved by ``min_delta`` (relative) for ``patience`` evaluations in a row, and
``teacher.pt`` holds the best evaluated model; ``max_steps`` caps it.

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
from typing import Dict, List, Optional, Tuple, Union

import numpy as np
import torch
import yaml
from tqdm import tqdm

from kaldi_kd.data.atomic import atomic_path, write_text_atomic
from kaldi_kd.errors import InputError, MissingFileError
from kaldi_kd.lm.corpus import corpus_files, load_bounds, load_sequences, read_vocab
from kaldi_kd.lm.models import ModelConfig, UnitLM
from kaldi_kd.train.checkpoint import restore_num_threads
from kaldi_kd.units.segments import WORD_START

PathLike = Union[str, os.PathLike]
log = logging.getLogger("kaldi_kd.lm")


@dataclass
class LMConfig:
    """Teacher LM config; every default in one place (small: trains on CPU in ~1 min on digits).

    Attributes:
        kind: "causal" | "masked" | "bidir".
        d_model, n_heads, n_layers, d_ff, dropout, span, max_offset: architecture
            (see ModelConfig); span "phone" / "word" hides the whole group of a
            predicted unit and needs the corpus' group codes.
        max_len: training sequences longer than this are randomly cropped.
        batch_size: sequences per step.
        max_steps: optimiser steps (the cap, with early stopping).
        lr, weight_decay, warmup_steps, grad_clip: AdamW and schedule (linear
            warmup, then cosine decay to lr/10).
        mask_prob: fraction of positions masked per sequence (masked kind; >= 1 per sequence).
        checkpoint_every, valid_every: steps between checkpoints / held-out perplexities.
        patience: stop after this many held-out evaluations without improvement (0 = never).
        min_delta: relative perplexity decrease that counts as an improvement.
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
    span: str = ModelConfig.span
    max_offset: int = ModelConfig.max_offset
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
    patience: int = 0
    min_delta: float = 0.002
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


def pad_bounds(bounds: Optional[List[np.ndarray]]) -> Optional[torch.Tensor]:
    """Group codes padded like :func:`pad_batch` (padding opens words), or None."""
    if bounds is None:
        return None
    return pad_batch(bounds, pad=WORD_START)[0]


def crop(seq: np.ndarray, max_len: int, rng: np.random.Generator,
         bounds: Optional[np.ndarray] = None) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """A random window of at most ``max_len`` units (and its group codes; the first opens a word)."""
    if len(seq) <= max_len:
        return seq, bounds
    start = int(rng.integers(0, len(seq) - max_len + 1))
    if bounds is None:
        return seq[start : start + max_len], None
    b = bounds[start : start + max_len].copy()
    b[0] = WORD_START
    return seq[start : start + max_len], b


def masked_positions(model: UnitLM, lengths: torch.Tensor, bounds: Optional[torch.Tensor], k: int,
                     mask_prob: float, gen: torch.Generator) -> torch.Tensor:
    """bool (N, K): the positions a masked LM hides in one training step.

    Whole groups (the model's span) are hidden, each with probability ``mask_prob``,
    at least one per sequence.
    """
    n = lengths.shape[0]
    device = lengths.device
    valid = torch.arange(k, device=device)[None, :] < lengths[:, None]
    first, _ = model.groups(bounds, torch.zeros(n, k, dtype=torch.long, device=device), lengths)
    r = torch.rand((n, k), generator=gen).to(device).masked_fill(~valid, 2.0)
    forced = first.gather(1, r.argmin(dim=1, keepdim=True))  # the group of the smallest draw
    chosen = (r.gather(1, first) < mask_prob) | (first == forced)
    return chosen & valid


def training_loss(model: UnitLM, units: torch.Tensor, lengths: torch.Tensor, cfg: LMConfig,
                  gen: torch.Generator, bounds: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, int]:
    """Mean cross-entropy over predicted positions and their count."""
    valid = torch.arange(units.shape[1], device=units.device)[None, :] < lengths[:, None]
    if model.kind == "masked":
        valid = masked_positions(model, lengths, bounds, units.shape[1], cfg.mask_prob, gen)
        logits = model(units.masked_fill(valid, model.mask_id), lengths)
    else:
        logits = model(units, lengths, bounds)
    loss = torch.nn.functional.cross_entropy(logits[valid].float(), units[valid])
    return loss, int(valid.sum())


@dataclass
class TeacherStats:
    """What a teacher knows about a set of unit sequences (q_k against the true unit s_k).

    Attributes:
        ppl: exp(mean −log q_k(s_k)).
        entropy: mean entropy of q_k in nats (0: one-hot; log V: uniform).
        p_true: mean q_k(s_k).
        top1: fraction of positions where argmax q_k = s_k.
        units: positions scored.
    """

    ppl: float
    entropy: float
    p_true: float
    top1: float
    units: int

    def line(self) -> str:
        return (f"ppl {self.ppl:.4f} entropy {self.entropy:.4f} p_true {self.p_true:.4f} top1 {self.top1:.4f} "
                f"units {self.units}")


@torch.no_grad()
def teacher_stats(model: UnitLM, seqs: List[np.ndarray], device: torch.device, batch_size: int = 32,
                  bounds: Optional[List[np.ndarray]] = None, tau: float = 1.0) -> TeacherStats:
    """Perplexity, mean entropy, mean p(true unit) and top-1 agreement of q = softmax(logits / tau)."""
    was_training = model.training
    model.eval()
    sums = np.zeros(4)  # nll, entropy, p_true, top1
    count = 0
    for i in range(0, len(seqs), batch_size):
        units, lengths = pad_batch(seqs[i : i + batch_size])
        b = pad_bounds(None if bounds is None else bounds[i : i + batch_size])
        units, lengths = units.to(device), lengths.to(device)
        logp = torch.log_softmax(model.segment_logits(units, lengths, b) / tau, dim=-1)
        valid = torch.arange(units.shape[1], device=device)[None, :] < lengths[:, None]
        logp, true = logp[valid], units[valid]
        tok = logp.gather(1, true[:, None])[:, 0]
        sums += [-float(tok.sum()), -float((logp.exp() * logp).sum()), float(tok.exp().sum()),
                 float((logp.argmax(-1) == true).sum())]
        count += int(valid.sum())
    model.train(was_training)
    if not count:
        return TeacherStats(float("nan"), float("nan"), float("nan"), float("nan"), 0)
    m = sums / count
    return TeacherStats(math.exp(m[0]), float(m[1]), float(m[2]), float(m[3]), count)


def perplexity(model: UnitLM, seqs: List[np.ndarray], device: torch.device, batch_size: int = 32,
               bounds: Optional[List[np.ndarray]] = None) -> Tuple[float, int]:
    """Held-out perplexity exp(mean −log q_k(s_k)) and the number of units scored."""
    st = teacher_stats(model, seqs, device, batch_size, bounds)
    return st.ppl, st.units


def _lr_at(step: int, cfg: LMConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    frac = (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


@dataclass
class EarlyStopping:
    """Best held-out perplexity so far, its step, and evaluations since it improved."""

    patience: int
    min_delta: float
    best_ppl: float = float("inf")
    best_step: int = 0
    bad: int = 0

    def update(self, ppl: float, step: int) -> bool:
        """Record an evaluation; True when it is the new best."""
        if ppl < self.best_ppl * (1.0 - self.min_delta):
            self.best_ppl, self.best_step, self.bad = ppl, step, 0
            return True
        self.bad += 1
        if ppl < self.best_ppl:  # better, but not by min_delta: keep the better model
            self.best_ppl, self.best_step = ppl, step
            return True
        return False

    @property
    def stop(self) -> bool:
        return self.patience > 0 and self.bad >= self.patience


def _save_checkpoint(path: Path, model: UnitLM, opt: torch.optim.Optimizer, step: int,
                     stopper: EarlyStopping, best: Optional[Dict]) -> None:
    with atomic_path(path) as tmp:
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
                    "early_stopping": dataclasses.asdict(stopper), "best_model": best,
                    "num_threads": torch.get_num_threads()}, tmp)


def _setup_logging(exp_dir: Path) -> None:
    (exp_dir / "log").mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(exp_dir / "log" / "train.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)


@dataclass
class UnitCorpus:
    """A unit corpus in memory: vocabulary, train / valid sequences, their group codes (or None)."""

    vocab: List[str]
    train: List[np.ndarray]
    valid: List[np.ndarray]
    train_bounds: Optional[List[np.ndarray]]
    valid_bounds: Optional[List[np.ndarray]]


def load_unit_corpus(corpus_dir: PathLike, with_bounds: bool, max_valid: int = 0) -> UnitCorpus:
    """Read a unit-corpus dir (group codes only when ``with_bounds``).

    Everything is read (and checked) before training writes anything.

    Raises:
        MissingFileError / InputError: naming the missing or malformed file.
    """
    files = corpus_files(corpus_dir)
    for name in ("vocab", "train", "valid"):
        if not files[name].exists():
            raise MissingFileError(files[name])
    vocab = read_vocab(files["vocab"])
    train = load_sequences(files["train"], len(vocab))
    valid = load_sequences(files["valid"], len(vocab))
    if not train:
        raise InputError(f"{files['train']}: holds no sequences (rebuild it with steps_py/make_unit_corpus.py)")
    tb = load_bounds(files["train_bounds"], train) if with_bounds else None
    vb = load_bounds(files["valid_bounds"], valid) if with_bounds else None
    if max_valid:
        valid, vb = valid[:max_valid], (None if vb is None else vb[:max_valid])
    return UnitCorpus(vocab, train, valid, tb, vb)


def _append_curve(path: Path, step: int, loss: float, st: TeacherStats) -> None:
    new = not path.exists()
    with open(path, "a") as f:
        if new:
            f.write("step\ttrain_loss\tvalid_ppl\tentropy\tp_true\ttop1\n")
        f.write(f"{step}\t{loss:.4f}\t{st.ppl:.4f}\t{st.entropy:.4f}\t{st.p_true:.4f}\t{st.top1:.4f}\n")


def train_lm(corpus_dir: PathLike, exp_dir: PathLike, cfg: LMConfig, resume: bool = False,
             progress: bool = True) -> float:
    """Train a teacher LM on a unit corpus; returns the held-out perplexity of the saved model.

    Args:
        corpus_dir: unit-corpus dir with units.txt, train.txt.gz, valid.txt.gz (and the
            ``*.bounds.gz`` group codes when ``cfg.span`` is not "none").
        exp_dir: output dir (see the module docstring for its files).
        cfg: the LMConfig.
        resume: continue from exp_dir/ckpt/last.pt when it exists.
        progress: show a tqdm bar.
    """
    exp_dir = Path(exp_dir)
    spanned = cfg.span != "none"
    corpus = load_unit_corpus(corpus_dir, spanned, cfg.max_valid_seqs)
    _setup_logging(exp_dir)
    shutil.copyfile(corpus_files(corpus_dir)["vocab"], exp_dir / "units.txt")
    cfg.save(exp_dir / "config.yaml")
    train, valid = corpus.train, corpus.valid
    device = resolve_device(cfg.device)
    if cfg.num_threads > 0:
        torch.set_num_threads(cfg.num_threads)
    torch.manual_seed(cfg.seed)
    model = UnitLM(len(corpus.vocab), cfg.model_config()).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    stopper = EarlyStopping(cfg.patience, cfg.min_delta)
    best: Optional[Dict] = None
    step = 0
    ckpt = exp_dir / "ckpt" / "last.pt"
    curve = exp_dir / "ppl_curve.tsv"
    if resume and ckpt.exists():
        state = torch.load(ckpt, map_location=device)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step = int(state["step"])
        stopper = EarlyStopping(**state.get("early_stopping", dataclasses.asdict(stopper)))
        best = state.get("best_model")
        restore_num_threads(int(state.get("num_threads", 0)), device)
        log.info("resumed from %s at step %d", ckpt, step)
    elif curve.exists():
        curve.unlink()
    log.info("kind=%s span=%s vocab=%d train_seqs=%d valid_seqs=%d params=%d device=%s", cfg.kind, cfg.span,
             len(corpus.vocab), len(train), len(valid), sum(p.numel() for p in model.parameters()), device)
    autocast = device.type == "cuda"
    model.train()
    bar = tqdm(total=cfg.max_steps, initial=step, disable=not progress, desc=f"lm {cfg.kind}")
    t0 = time.time()
    while step < cfg.max_steps and not stopper.stop:
        rng = np.random.default_rng([cfg.seed, step])  # reproducible across --resume
        gen = torch.Generator().manual_seed(cfg.seed * 100003 + step)
        torch.manual_seed(cfg.seed * 100019 + step)    # dropout masks too: a step never depends on the last
        idx = rng.integers(0, len(train), cfg.batch_size)
        pairs = [crop(train[i], cfg.max_len, rng, None if corpus.train_bounds is None else corpus.train_bounds[i])
                 for i in idx]
        units, lengths = pad_batch([u for u, _ in pairs])
        bounds = pad_bounds([b for _, b in pairs] if spanned else None)
        for g in opt.param_groups:
            g["lr"] = _lr_at(step, cfg)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
            loss, _ = training_loss(model, units.to(device), lengths.to(device), cfg, gen,
                                    None if bounds is None else bounds.to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.3f}")
        if step % 50 == 0:
            log.info("step %d loss %.4f lr %.2e", step, loss.item(), _lr_at(step - 1, cfg))
        if (step % cfg.valid_every == 0 or step == cfg.max_steps) and valid:
            st = teacher_stats(model, valid, device, bounds=corpus.valid_bounds)
            _append_curve(curve, step, loss.item(), st)
            if stopper.update(st.ppl, step):
                best = {k: v.detach().clone() for k, v in model.state_dict().items()}
            log.info("step %d valid %s (best %.4f at step %d)", step, st.line(), stopper.best_ppl, stopper.best_step)
            if stopper.stop:
                log.info("early stop at step %d: no %.1f%% improvement in %d evaluations", step,
                         100 * cfg.min_delta, cfg.patience)
        if step % cfg.checkpoint_every == 0 or step == cfg.max_steps or stopper.stop:
            _save_checkpoint(ckpt, model, opt, step, stopper, best)
    bar.close()
    if best is not None and cfg.patience > 0:
        model.load_state_dict(best)
    ppl, n = perplexity(model, valid, device, bounds=corpus.valid_bounds) if valid else (float("nan"), 0)
    with atomic_path(exp_dir / "teacher.pt") as tmp:
        torch.save({"model": model.state_dict(), "vocab_size": len(corpus.vocab), "config": dataclasses.asdict(cfg),
                    "step": stopper.best_step if best is not None and cfg.patience > 0 else step}, tmp)
    write_text_atomic(exp_dir / "ppl", f"valid_ppl {ppl:.4f} tokens {n} vocab {len(corpus.vocab)}\n")
    log.info("done: step %d valid_ppl %.3f (%d units) vocab %d in %.1fs", step, ppl, n, len(corpus.vocab),
             time.time() - t0)
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
