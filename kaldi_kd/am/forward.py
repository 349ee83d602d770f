"""Forward a trained AM over a data dir: scaled log-likelihoods for HCLG decoding.

For each utterance the exported model (no auxiliary heads) gives
``log p(pdf | x_t) - log prior(pdf)`` per frame, written as Kaldi float-matrix arks
``<out-dir>/loglikes.N.ark`` + ``loglikes.N.scp`` (N = 1..nj, one job per part of the
data dir's Kaldi split ``<data-dir>/split<nj>/N``).

One row per *input* frame: a model with ``subsampling = s > 1`` computes
``ceil(T/s)`` outputs and input frame t takes the row of output frame ``t // s``
(each output repeated s times, the last cut to T), so the arks line up with the
alignments and HCLG built on the ordinary HMM topology.

The model is read from ``<am-dir>/<checkpoint>`` (``best.pt`` by default), the feature
options (CMVN, deltas, splicing) from ``<am-dir>/config.yaml``, the priors from
``<am-dir>/post_prior_counts`` (the model's average posterior) when it exists, else
``<am-dir>/prior_counts`` (alignment counts); see :mod:`kaldi_kd.am.priors`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Iterator, Tuple, Union

import numpy as np
import torch
import yaml
from tqdm import tqdm

from kaldi_kd.am.data import FeatureSource, check_feature_dim
from kaldi_kd.am.model import HybridModel, main_state_dict, model_from_config
from kaldi_kd.am.priors import POSTERIOR_PRIORS, log_priors, prior_file, read_prior_counts, write_prior_counts
from kaldi_kd.data.tables import write_table
from kaldi_kd.errors import InputError, MissingFileError, require_files
from kaldi_kd.train.checkpoint import load_checkpoint
from kaldi_kd.train.config import TrainConfig, config_from_dict

PathLike = Union[str, os.PathLike]
log = logging.getLogger(__name__)


def load_trained_model(am_dir: PathLike, checkpoint: str = "best.pt") -> HybridModel:
    """The model of ``am_dir/checkpoint`` without auxiliary heads, in eval mode."""
    ckpt = load_checkpoint(Path(am_dir) / checkpoint)
    model = model_from_config(ckpt["model_config"])
    model.load_state_dict(main_state_dict(ckpt["model"]))
    return model.export()


def check_forward_inputs(data_dir: PathLike, am_dir: PathLike, checkpoint: str = "best.pt",
                         priors: str = "auto") -> None:
    """Check before any job starts: the files exist, the priors are there, and the
    features of ``data_dir`` have the input dim of ``am_dir`` (its config.yaml).

    Raises:
        MissingFileError, FeatureDimError: naming the file.
    """
    require_files([Path(data_dir) / "feats.scp", Path(am_dir) / checkpoint, Path(am_dir) / "config.yaml"],
                  "is the previous stage done?")
    prior_file(am_dir, priors)
    cfg = load_train_config(am_dir)
    check_feature_dim(FeatureSource(data_dir, cfg.data), cfg.model.input_dim, f"{Path(am_dir) / 'config.yaml'}")


def load_train_config(am_dir: PathLike) -> TrainConfig:
    path = Path(am_dir) / "config.yaml"
    if not path.exists():
        raise MissingFileError(path)
    return config_from_dict(yaml.safe_load(path.read_text()))


@torch.inference_mode()
def utterance_log_posteriors(model: HybridModel, feats: np.ndarray,
                             device: torch.device = torch.device("cpu")) -> torch.Tensor:
    """(T', P) float32 ``log_softmax(logits)`` of one utterance, at the model's output rate."""
    x = torch.from_numpy(np.asarray(feats, dtype=np.float32)).to(device)[None]
    out = model(x, torch.tensor([x.shape[1]], device=device))
    return torch.log_softmax(out.logits[0].float(), dim=-1)


def utterance_loglikes(model: HybridModel, feats: np.ndarray, log_prior: torch.Tensor,
                       device: torch.device = torch.device("cpu")) -> np.ndarray:
    """(T, P) float32 ``log_softmax(logits) - log_prior``, one row per input frame."""
    ll = utterance_log_posteriors(model, feats, device) - log_prior.to(device)
    if model.subsampling > 1:
        ll = ll.repeat_interleave(model.subsampling, dim=0)[: feats.shape[0]]
    return ll.cpu().numpy()


def posterior_counts(model: HybridModel, feats, utts, device: torch.device = torch.device("cpu"),
                     progress: bool = False) -> np.ndarray:
    """Sum over the output frames of ``utts`` of ``softmax(logits)``, float64 (P,).

    Args:
        model: an exported HybridModel (main head).
        feats: utt -> (T, F) float32 features, already through the training pipeline.
        utts: the utterances to sum over.
    """
    total = None
    for utt in tqdm(list(utts), desc="posterior priors", unit="utt", disable=not progress):
        p = utterance_log_posteriors(model, feats[utt], device).exp().sum(0).double().cpu().numpy()
        total = p if total is None else total + p
    if total is None:
        raise InputError("posterior priors: no utterances to average over")
    return total


def write_posterior_priors(data_dir: PathLike, am_dir: PathLike, num_utts: int = 500,
                           checkpoint: str = "best.pt", device: str = "cpu", progress: bool = False) -> Path:
    """``<am-dir>/post_prior_counts``: the model's posteriors summed over ``num_utts``
    utterances of ``data_dir`` spread over the set (all when fewer); returns the path."""
    from kaldi_kd.data.datadir import DataDir
    from kaldi_kd.data.subset import pick_utts

    cfg = load_train_config(am_dir)
    model = load_trained_model(am_dir, checkpoint).to(device)
    utts = pick_utts(DataDir.load(data_dir), num_utts)
    feats = FeatureSource(data_dir, cfg.data)
    check_feature_dim(feats, model.config.input_dim, f"{Path(am_dir) / checkpoint}")
    counts = posterior_counts(model, feats, utts, torch.device(device), progress)
    out = Path(am_dir) / POSTERIOR_PRIORS
    write_prior_counts(out, counts)
    log.info("%s: average posterior of %s over %d utterances of %s", out, checkpoint, len(utts), data_dir)
    return out


def forward_part(part_dir: PathLike, am_dir: PathLike, out_ark: PathLike, out_scp: PathLike,
                 prior_floor: float = 1e-8, checkpoint: str = "best.pt", device: str = "cpu",
                 priors: str = "auto") -> int:
    """Write loglikes of every utterance of ``part_dir``; returns the number written.

    ``priors``: auto | posterior | alignment (:func:`kaldi_kd.am.priors.prior_file`).
    """
    torch.set_num_threads(1)
    cfg = load_train_config(am_dir)
    model = load_trained_model(am_dir, checkpoint).to(device)
    counts_file = prior_file(am_dir, priors)
    log_prior = log_priors(read_prior_counts(counts_file), prior_floor)
    if log_prior.numel() != model.num_pdfs:
        raise InputError(f"{counts_file}: {log_prior.numel()} entries but the "
                         f"model has {model.num_pdfs} pdfs")
    feats = FeatureSource(part_dir, cfg.data)
    check_feature_dim(feats, model.config.input_dim, f"{Path(am_dir) / checkpoint}")
    dev = torch.device(device)

    def rows() -> Iterator[Tuple[str, np.ndarray]]:
        for utt in feats.utts():
            ll = utterance_loglikes(model, feats[utt], log_prior, dev)
            if not np.isfinite(ll).all():
                raise ValueError(f"utterance '{utt}': non-finite log-likelihoods")
            yield utt, ll

    n = write_table(out_ark, rows(), scp=out_scp)
    log.info("%s: %d utterances -> %s", part_dir, n, out_ark)
    return n


def forward_job(job: int, data_dir: str, am_dir: str, out_dir: str, nj: int,
                prior_floor: float, checkpoint: str, device: str, priors: str = "auto") -> int:
    """Job ``job`` of ``nj``: ``<data-dir>/split<nj>/<job>`` -> ``<out-dir>/loglikes.<job>.{ark,scp}``."""
    part = Path(data_dir) / f"split{nj}" / str(job)
    return forward_part(part, am_dir, Path(out_dir) / f"loglikes.{job}.ark",
                        Path(out_dir) / f"loglikes.{job}.scp", prior_floor, checkpoint, device, priors)
