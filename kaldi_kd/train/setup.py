"""Assemble an AM training run from Kaldi directories: data, alignments, model, loaders.

``steps_py/train_am.py`` is a thin CLI over :func:`prepare_training` + :func:`run_ce_training`.
The distillation trainer reuses :func:`prepare_training`, adds auxiliary heads to
``setup.model`` and calls :func:`kaldi_kd.train.loop.train` with its own objective.

Outputs written here (rank 0): ``config.yaml``, ``prior_counts`` (Kaldi text vector),
``final.mdl``/``tree`` copied from the alignment dir (the transition model decoding
needs), ``log/``.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import numpy as np
import torch
from torch.utils.data import DataLoader

from kaldi_kd.am.data import (AmData, BucketBatchSampler, check_feature_dim, count_pdfs, load_am_data,
                              make_loader, transition_id_to_pdf)
from kaldi_kd.am.model import HybridModel, ModelConfig
from kaldi_kd.am.objective import CEObjective
from kaldi_kd.am.priors import write_prior_counts
from kaldi_kd.errors import InputError, MissingFileError
from kaldi_kd.train.config import TrainConfig, save_config
from kaldi_kd.train.loop import _world, train

PathLike = Union[str, os.PathLike]
log = logging.getLogger("kaldi_kd.train")


def load_tid2pdf(ali_dir: PathLike) -> tuple:
    """(tid2pdf array, num_pdfs) from ``ali_dir/final.mdl`` (needs kaldi_kd.gmm.model_io)."""
    mdl = Path(ali_dir) / "final.mdl"
    if not mdl.exists():
        raise MissingFileError(mdl)
    try:
        from kaldi_kd.gmm.model_io import read_transition_model
    except ImportError as err:  # pragma: no cover - before branch gmm is merged
        raise RuntimeError(f"reading {mdl} needs kaldi_kd.gmm.model_io (branch gmm)") from err
    tm = read_transition_model(str(mdl))
    return transition_id_to_pdf(tm), int(tm.num_pdfs)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class TrainingSetup:
    model: HybridModel
    data: AmData
    train_loader: DataLoader
    valid_loader: Optional[DataLoader]


def build_loaders(data: AmData, cfg: TrainConfig, rank: int = 0, world_size: int = 1):
    """(train_loader, valid_loader) from the config's batching options."""
    d, s = cfg.data, cfg.model.subsampling
    chunked = d.batching == "chunk"
    if d.batching not in ("utterance", "chunk"):
        raise InputError(f"data.batching must be 'utterance' or 'chunk', got {d.batching!r}")
    train_ds = data.dataset(data.train_utts, d, s, chunked)
    sampler = BucketBatchSampler(train_ds.item_lengths(), d.max_frames, d.max_utts, shuffle=True,
                                 seed=cfg.seed, bucket_noise=d.bucket_noise, rank=rank,
                                 world_size=world_size)
    pin = torch.cuda.is_available()
    train_loader = make_loader(train_ds, sampler, s, d.num_workers, cfg.seed, pin)
    valid_loader = None
    if data.valid_utts:
        valid_ds = data.dataset(data.valid_utts, d, s, chunked)
        vs = BucketBatchSampler(valid_ds.item_lengths(), d.max_frames, d.max_utts, shuffle=False)
        valid_loader = make_loader(valid_ds, vs, s, d.num_workers, cfg.seed, pin)
    return train_loader, valid_loader


def prepare_training(data_dir: PathLike, ali_dir: PathLike, exp_dir: PathLike, cfg: TrainConfig,
                     tid2pdf: Optional[np.ndarray] = None, num_pdfs: Optional[int] = None,
                     expect_model: Optional[ModelConfig] = None, expect_source: str = "config.yaml"
                     ) -> TrainingSetup:
    """Load data, fill ``cfg.model.input_dim/num_pdfs``, build model and loaders, write
    config.yaml / prior_counts / final.mdl / tree into ``exp_dir`` (rank 0).

    Args:
        tid2pdf, num_pdfs: the transition-id -> pdf map; read from ``ali_dir/final.mdl``
            when not given.
        expect_model: the model config of a run being resumed (named ``expect_source``):
            its input dim and pdf count must match the data, checked before anything is written.
    Raises:
        FeatureDimError, InputError: when the data do not fit ``expect_model``.
    """
    rank, world = _world()
    exp_dir = Path(exp_dir)
    if tid2pdf is None:
        tid2pdf, num_pdfs = load_tid2pdf(ali_dir)
    num_pdfs = int(num_pdfs if num_pdfs is not None else int(tid2pdf[1:].max()) + 1)
    seed_everything(cfg.seed)
    data = load_am_data(data_dir, ali_dir, tid2pdf, cfg.data, seed=cfg.seed)
    if expect_model is not None:
        check_feature_dim(data.features, expect_model.input_dim, f"the model being resumed ({expect_source})")
        if expect_model.num_pdfs != num_pdfs:
            raise InputError(f"{Path(ali_dir) / 'final.mdl'}: {num_pdfs} pdfs, but the model being resumed "
                             f"({expect_source}) has {expect_model.num_pdfs} (use the alignments it was "
                             "trained on, or start a new exp dir)")
    cfg.model.input_dim = data.features.dim
    cfg.model.num_pdfs = num_pdfs
    model = HybridModel(cfg.model)
    if rank == 0:
        exp_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, exp_dir / "config.yaml")
        write_prior_counts(exp_dir / "prior_counts", count_pdfs(data.alis, num_pdfs))
        for name in ("final.mdl", "tree"):
            if (Path(ali_dir) / name).exists():
                shutil.copyfile(Path(ali_dir) / name, exp_dir / name)
        log.info("data: %d train / %d valid utterances, feature dim %d, %d pdfs; model %s with "
                 "%.2fM parameters", len(data.train_utts), len(data.valid_utts),
                 cfg.model.input_dim, num_pdfs, cfg.model.type,
                 sum(p.numel() for p in model.parameters()) / 1e6)
    train_loader, valid_loader = build_loaders(data, cfg, rank, world)
    return TrainingSetup(model, data, train_loader, valid_loader)


def run_ce_training(setup: TrainingSetup, cfg: TrainConfig, exp_dir: PathLike, resume: bool = False):
    """Train ``setup.model`` with :class:`CEObjective`; returns :func:`train`'s summary."""
    return train(setup.model, CEObjective(), setup.train_loader, setup.valid_loader, cfg, exp_dir,
                 resume=resume)
