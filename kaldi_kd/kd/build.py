"""From a :class:`KDConfig` to a ready objective: teachers, engines, heads.

The training script calls :func:`setup_kd` once after building the model::

    cfg = kd_config_from_args(args)
    objective = setup_kd(cfg, model, segments, device)   # adds heads, loads teachers
    cfg.save(exp_dir)

``segments`` maps unit -> utterance -> :class:`~kaldi_kd.units.segments.Segments`
(from the alignment, see :mod:`kaldi_kd.units`).
"""

from __future__ import annotations

import logging
from typing import Callable, Dict, Mapping, Optional, Union

import torch
from torch import nn

from kaldi_kd.am.heads import add_aux_heads, check_layers
from kaldi_kd.kd.config import KDConfig, KDConfigError
from kaldi_kd.kd.hf_engine import build_hf_engine
from kaldi_kd.kd.objective import KDObjective
from kaldi_kd.kd.segments import PartialEngine
from kaldi_kd.kd.soft_targets import SoftTargetEngine

log = logging.getLogger("kaldi_kd.kd")

TeacherLoader = Callable[[str, Union[str, torch.device]], object]


def load_teacher_dir(exp_dir: str, device: Union[str, torch.device]) -> object:
    """The frozen teacher of ``exp_dir`` (``teacher.pt``, see :func:`kaldi_kd.lm.load_teacher`)."""
    from kaldi_kd.lm import load_teacher

    return load_teacher(exp_dir, device)


def build_engines(
    cfg: KDConfig,
    segments: Mapping[str, Mapping[str, object]],
    subsampling: int = 1,
    device: Union[str, torch.device] = "cpu",
    loader: TeacherLoader = load_teacher_dir,
    cache: bool = True,
    vocab_sizes: Optional[Mapping[str, int]] = None,
) -> Dict[str, PartialEngine]:
    """One SoftTargetEngine per unit the config needs (wrapped: utterances without
    segments get no soft targets instead of an error).

    Args:
        vocab_sizes: unit -> size of the segments' vocabulary; checked against the teacher's.

    A unit whose teacher is ``hf:<dir>`` gets a :class:`~kaldi_kd.kd.hf_engine.HFTargetEngine`
    built from ``segments[unit]`` = utt -> word spans (its head size is the engine's).

    Raises:
        KDConfigError: when a unit's segments are missing or the teacher's vocabulary
            differs from the segments'.
    """
    engines = {}
    for unit in cfg.needed_units():
        if unit not in segments:
            raise KDConfigError(f"no {unit} segments for the training data (needed by the {unit} teacher)")
        if unit in cfg.hf_units():  # a local Hugging Face LM: segments[unit] holds word spans
            engines[unit] = PartialEngine(build_hf_engine(
                cfg.teachers[unit], segments[unit], cfg.hf_options(), cfg.tau(unit), cfg.unit_top_k(unit),
                subsampling, device))
            continue
        teacher = loader(cfg.teachers[unit], device)
        if vocab_sizes and unit in vocab_sizes and int(vocab_sizes[unit]) != teacher.vocab_size:
            raise KDConfigError(
                f"{unit} teacher {cfg.teachers[unit]} has {teacher.vocab_size} units but the {unit} segments "
                f"use {vocab_sizes[unit]} (teacher trained on another lang/tree/sentencepiece model?)"
            )
        engines[unit] = PartialEngine(SoftTargetEngine(
            teacher, dict(segments[unit]), tau=cfg.tau(unit), top_k=cfg.top_k, subsampling=subsampling, cache=cache
        ))
        log.info("teacher %s: %s (kind %s, vocab %d, tau %.2f, top_k %s)", unit, cfg.teachers[unit],
                 getattr(teacher, "kind", "?"), teacher.vocab_size, cfg.tau(unit), cfg.top_k)
    return engines


def setup_kd(
    cfg: KDConfig,
    model: nn.Module,
    segments: Mapping[str, Mapping[str, object]],
    device: Union[str, torch.device] = "cpu",
    loader: TeacherLoader = load_teacher_dir,
    add_heads: bool = True,
    cache: bool = True,
    vocab_sizes: Optional[Mapping[str, int]] = None,
) -> KDObjective:
    """Validate ``cfg``, load its teachers, add the aux heads to ``model``, return the objective.

    Args:
        cfg: the distillation config.
        model: a HybridModel (``layer_dims``, ``aux_heads``, ``subsampling``, ``num_pdfs``).
        segments: unit -> utt -> Segments for the training (and validation) utterances.
        device: where the teachers run (the AM's device).
        loader: ``(exp_dir, device) -> Teacher`` (default :func:`kaldi_kd.lm.load_teacher`).
        add_heads: False when the heads are already there (resuming from a checkpoint).
        cache: let engines keep per-utterance targets in CPU memory after the first epoch.
        vocab_sizes: unit -> vocabulary size of the segments (checked against the teachers).

    Raises:
        KDConfigError: bad config, or the senone teacher's vocabulary differs from the
            main head's pdf count when interpolating.
    """
    cfg.validate()
    specs = cfg.specs
    check_layers(specs, len(model.layer_dims))
    engines = build_engines(cfg, segments, getattr(model, "subsampling", 1), device, loader, cache, vocab_sizes)
    if cfg.interp_alpha > 0:
        num_pdfs = getattr(model, "num_pdfs", None)
        if num_pdfs is not None and engines["senone"].vocab_size != num_pdfs:
            raise KDConfigError(
                f"label interpolation: senone teacher {cfg.teachers['senone']} has {engines['senone'].vocab_size} "
                f"units but the model has {num_pdfs} pdfs (teacher trained on another tree?)"
            )
    if add_heads:
        add_aux_heads(model, specs, {s.unit: engines[s.unit].vocab_size for s in specs})
    return KDObjective(
        {u: e for u, e in engines.items()},
        lambdas={s.unit: cfg.lam(s.unit) for s in specs},
        taus={u: cfg.tau(u) for u in engines},
        interp_alpha=cfg.interp_alpha,
    )
