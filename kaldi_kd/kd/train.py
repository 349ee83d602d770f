"""KD training on top of the AM training setup and loop (no loop of its own).

    setup = prepare_training(data_dir, ali_dir, exp_dir, cfg)          # kaldi_kd.train.setup
    run_kd_training(setup, cfg, kd_cfg, exp_dir, segments, resume)     # this module

With no heads and alpha = 0 this is plain CE training (:class:`CEObjective`).
Otherwise it saves ``kd.yaml``, loads the teachers, adds the auxiliary heads (before the
loop restores a checkpoint, so ``--resume`` finds them) and trains with
:class:`KDObjective`. When training ends ``final.pt`` / ``best.pt`` are rewritten
without auxiliary parameters (what ``model.export()`` keeps), so decoding never sees them;
the heads stay in ``checkpoints/step_*.pt`` for resuming.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Union

from kaldi_kd.am.heads import format_aux_heads, head_specs
from kaldi_kd.am.model import main_state_dict
from kaldi_kd.am.objective import CEObjective
from kaldi_kd.kd.build import TeacherLoader, load_teacher_dir, setup_kd
from kaldi_kd.kd.config import KDConfig
from kaldi_kd.train.checkpoint import load_checkpoint, save_checkpoint
from kaldi_kd.train.loop import _world, resolve_device, train

PathLike = Union[str, os.PathLike]
log = logging.getLogger("kaldi_kd.kd")


def strip_aux_heads(path: PathLike, kd_cfg: Optional[KDConfig] = None) -> bool:
    """Rewrite a ``best.pt``/``final.pt`` model checkpoint without ``aux_heads.*`` weights.

    The removed heads' spec (and the KD config) are kept as metadata. Returns whether the
    file existed.
    """
    path = Path(path)
    if not path.exists():
        return False
    state = load_checkpoint(path, map_location="cpu")
    removed = [k for k in state["model"] if k.startswith("aux_heads.")]
    if removed:
        state["model"] = main_state_dict(state["model"])
        if kd_cfg is not None:
            state["kd"] = {"aux_heads": kd_cfg.aux_heads, "interp_alpha": kd_cfg.interp_alpha}
        save_checkpoint(path, state)
        log.info("%s: dropped %d auxiliary tensors (export)", path, len(removed))
    return True


def write_head_units(engines: Mapping[str, Any], exp_dir: PathLike) -> None:
    """``<exp>/<unit>_head_units.txt`` (``<unit-id> <lm-token-id> <token>``) for each hf teacher's head."""
    from kaldi_kd.data.atomic import write_text_atomic

    for unit, eng in engines.items():
        eng = getattr(eng, "engine", eng)
        if getattr(eng, "head_symbols", None) is None:
            continue
        lines = (f"{i} {int(t)} {s}\n" for i, (t, s) in enumerate(zip(eng.head_tokens, eng.head_symbols)))
        write_text_atomic(Path(exp_dir) / f"{unit}_head_units.txt", "".join(lines))


def run_kd_training(
    setup: Any,
    cfg: Any,
    kd_cfg: KDConfig,
    exp_dir: PathLike,
    segments: Optional[Mapping[str, Mapping[str, Any]]] = None,
    resume: bool = False,
    loader: TeacherLoader = load_teacher_dir,
    vocab_sizes: Optional[Mapping[str, int]] = None,
) -> Dict[str, Any]:
    """Train ``setup.model`` with distillation as configured; return the loop's summary.

    Args:
        setup: a :class:`kaldi_kd.train.setup.TrainingSetup` (model, loaders).
        cfg: its TrainConfig (device, steps, ...).
        kd_cfg: the distillation config (validated here).
        exp_dir: the AM exp dir (``kd.yaml`` goes there).
        segments: unit -> utt -> Segments for every training/validation utterance
            (needed when ``kd_cfg.enabled``).
        resume: continue from the newest checkpoint.
        loader: teacher loader (tests pass a fake).
        vocab_sizes: unit -> vocabulary size of the segments (checked against the teachers).
    """
    exp_dir = Path(exp_dir)
    kd_cfg.validate()
    kd_cfg.save(exp_dir)
    device = resolve_device(cfg.device)
    if not kd_cfg.enabled:
        log.info("no auxiliary heads and interp_alpha 0: plain CE training")
        objective: Any = CEObjective()
    else:
        objective = setup_kd(kd_cfg, setup.model, segments or {}, device, loader, vocab_sizes=vocab_sizes)
        if _world()[0] == 0:
            write_head_units(objective.engines, exp_dir)
        log.info("KD: heads %s, lambdas %s, taus %s, interp_alpha %.3f, top_k %s",
                 format_aux_heads(head_specs(setup.model)) or "-", objective.lambdas, objective.taus,
                 kd_cfg.interp_alpha, {u: kd_cfg.unit_top_k(u) for u in kd_cfg.needed_units()})
    summary = train(setup.model, objective, setup.train_loader, setup.valid_loader, cfg, exp_dir,
                    resume=resume, device=device)
    if _world()[0] == 0:
        for name in ("final.pt", "best.pt"):
            strip_aux_heads(exp_dir / name, kd_cfg)
    return summary
