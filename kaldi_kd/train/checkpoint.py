"""Checkpoints: atomic writes, ``weights_only`` reads, RNG states, rotation.

A training checkpoint (``exp/<am>/checkpoints/step_NNNNNNNN.pt``) holds only tensors
and primitive containers, so ``torch.load(weights_only=True)`` reads it::

    {"model": state_dict, "optimizer": ..., "scheduler": ..., "step": int,
     "sampler": {"epoch", "position"}, "rng": [per-rank rng state], "best": float,
     "config": dict, "num_threads": int}

Resume restores all of it, the CPU thread count included (:func:`restore_num_threads`).

Model checkpoints (``best.pt``, ``final.pt``) hold ``{"model", "model_config", "step",
"valid"}``: enough to rebuild a :class:`~kaldi_kd.am.model.HybridModel`.
"""

from __future__ import annotations

import logging
import os
import random
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import numpy as np
import torch

from kaldi_kd.data.atomic import atomic_path
from kaldi_kd.errors import MissingFileError

PathLike = Union[str, os.PathLike]
_STEP_RE = re.compile(r"^step_(\d+)\.pt$")
_log = logging.getLogger("kaldi_kd.train")


def save_checkpoint(path: PathLike, state: Dict[str, Any]) -> None:
    """torch.save ``state`` to ``path`` atomically (a killed job never leaves half a file)."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: PathLike, map_location: Any = "cpu") -> Dict[str, Any]:
    """torch.load with ``weights_only=True``.

    Raises:
        FileNotFoundError: naming the file.
    """
    if not Path(path).exists():
        raise MissingFileError(path)
    return torch.load(path, map_location=map_location, weights_only=True)


def rng_state() -> Dict[str, Any]:
    """Python, numpy, torch and CUDA RNG states as tensors / primitives."""
    py = random.getstate()
    np_state = np.random.get_state()
    state = {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), int(np_state[2]),
                  int(np_state[3]), float(np_state[4])],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state((n[0], n[1].numpy().astype(np.uint32), n[2], n[3], n[4]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def restore_num_threads(saved: int, device: torch.device) -> None:
    """Use the checkpoint's CPU thread count: CPU kernels split sums by thread, so another
    count changes the last bits of every step (a resumed run would drift from the
    uninterrupted one)."""
    if saved > 0 and device.type == "cpu" and saved != torch.get_num_threads():
        _log.info("resume: %d CPU threads as when the checkpoint was written (this process had %d)",
                  saved, torch.get_num_threads())
        torch.set_num_threads(saved)


def step_checkpoints(ckpt_dir: PathLike) -> List[Path]:
    """Step checkpoints in ``ckpt_dir`` sorted by step."""
    d = Path(ckpt_dir)
    if not d.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in d.iterdir() if (m := _STEP_RE.match(p.name))]
    return [p for _, p in sorted(found)]


def latest_checkpoint(ckpt_dir: PathLike) -> Optional[Path]:
    ckpts = step_checkpoints(ckpt_dir)
    return ckpts[-1] if ckpts else None


def checkpoint_path(ckpt_dir: PathLike, step: int) -> Path:
    return Path(ckpt_dir) / f"step_{step:08d}.pt"


def rotate_checkpoints(ckpt_dir: PathLike, keep: int) -> None:
    """Delete all but the newest ``keep`` step checkpoints."""
    for p in step_checkpoints(ckpt_dir)[:-keep] if keep > 0 else []:
        p.unlink()
