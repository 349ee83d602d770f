"""Monophone GMM-HMM training: Kaldi's ``steps/train_mono.sh`` on the embedded backend.

Stages (files as Kaldi's, in ``exp/mono``):

- ``gmm-init-mono``: the tree is ``monophone_context_dependency_shared`` over the
  phone sets of ``phones/sets.int`` (phones of a set share pdfs); every pdf starts
  as one Gaussian with the global mean and variance of the first
  ``num_init_utts`` utterances' features -> ``0.mdl``, ``tree``;
- iteration 0: equal alignment of the training graphs (``align-equal-compiled``),
  ``gmm-est --min-gaussian-occupancy=3`` -> ``1.mdl``;
- iterations 1..num_iters-1: realign at ``realign_iters`` (beam 6 the first time,
  then 10, retry beam 40, silence boosted by ``boost_silence``), accumulate,
  update, mix up by ``(totgauss - #pdfs) / max_iter_inc`` Gaussians per iteration
  -> ``num_iters.mdl``; ``final.mdl`` links to it.

Features are MFCC + per-speaker CMVN + deltas (order 2) from
:class:`kaldi_kd.data.features.FeatureReader`.  With real Kaldi a recipe may run
``steps/train_mono.sh`` instead: the outputs (final.mdl, tree, ali.N.gz, num_jobs,
log/) follow the same contract and are read by the later stages either way.

Example:
    >>> train_mono("data/train", "data/lang", "exp/mono", MonoConfig(), nj=4)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from kaldi_kd.data.atomic import write_text_atomic
from kaldi_kd.errors import InputError
from kaldi_kd.gmm import model_io
from kaldi_kd.gmm.em import EMConfig, IterationLog, run_em
from kaldi_kd.gmm.stage import config_yaml, copy_phones_txt
from kaldi_kd.gmm.gmm_feats import FeatOpts
from kaldi_kd.gmm.stats import limit_blas_threads
from kaldi_kd.kaldi.wheels import kaldi_hmm_gmm

PathLike = Union[str, os.PathLike]
log = logging.getLogger(__name__)


@dataclass
class MonoConfig:
    """train_mono.sh options (Kaldi defaults)."""

    # the EM defaults are EMConfig's (which are train_mono.sh's)
    num_iters: int = EMConfig.num_iters
    max_iter_inc: int = EMConfig.max_iter_inc
    totgauss: int = EMConfig.totgauss
    boost_silence: float = EMConfig.boost_silence
    power: float = EMConfig.power
    careful: bool = EMConfig.careful
    num_init_utts: int = 10
    realign_iters: Tuple[int, ...] = EMConfig.realign_iters
    cmvn: bool = True
    deltas: int = 2

    def em_config(self) -> EMConfig:
        """These options as an EMConfig (beams: EMConfig's, i.e. train_mono.sh's 6 / 10 / 40)."""
        return EMConfig(num_iters=self.num_iters, max_iter_inc=self.max_iter_inc,
                        totgauss=self.totgauss, power=self.power,
                        realign_iters=tuple(self.realign_iters), careful=self.careful,
                        boost_silence=self.boost_silence,
                        feats=FeatOpts(cmvn=self.cmvn, deltas=self.deltas))


def global_gaussian(feats: Sequence[np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
    """Global mean and variance of the frames of ``feats`` (gmm-init-mono --train-feats)."""
    x = np.concatenate([np.asarray(f, np.float64) for f in feats])
    if len(x) == 0:
        raise InputError("no frames to initialise the monophone model from")
    mean = x.mean(axis=0)
    var = np.maximum((x * x).mean(axis=0) - mean * mean, 1e-10)
    return mean, var


def init_mono(topo, phone_sets: List[List[int]], mean: np.ndarray, var: np.ndarray):
    """gmm-init-mono: (ctx_dep, trans_model, am_gmm) with one global Gaussian per pdf.

    Args:
        topo: kaldi_hmm_gmm.HmmTopology.
        phone_sets: phones/sets.int rows (phones in a row share their pdfs).
    """
    ctx = kaldi_hmm_gmm.monophone_context_dependency_shared(
        phone_sets, topo.get_phone_to_num_pdf_classes())
    tm = kaldi_hmm_gmm.TransitionModel(ctx, topo)
    dim = len(mean)
    gmm = kaldi_hmm_gmm.DiagGmm(1, dim)
    gmm.set_weights(np.ones(1, np.float32))
    inv_var = (1.0 / var).astype(np.float32)[None, :]
    gmm.set_invvars_and_means(inv_var, mean.astype(np.float32)[None, :])
    gmm.compute_gconsts()
    am = kaldi_hmm_gmm.AmDiagGmm()
    am.init(gmm, ctx.num_pdfs)
    am.compute_gconsts()
    return ctx, tm, am


def train_mono(data_dir: PathLike, lang_dir: PathLike, exp_dir: PathLike,
               cfg: Optional[MonoConfig] = None, nj: int = 1,
               cmd: Optional[str] = None) -> List[IterationLog]:
    """Train a monophone system into ``exp_dir`` (rerunnable: finished parts are kept).

    Returns:
        the per-iteration logs (average log-likelihood per frame, Gaussians, failures).
    """
    from kaldi_kd.data.features import FeatureReader
    from kaldi_kd.gmm.lang import Lang

    cfg = cfg or MonoConfig()
    limit_blas_threads(1)
    exp = Path(exp_dir)
    (exp / "log").mkdir(parents=True, exist_ok=True)
    write_text_atomic(exp / "config.yaml", config_yaml(asdict(cfg)))
    FeatOpts(cmvn=cfg.cmvn, deltas=cfg.deltas).save(exp)
    lang = Lang(lang_dir)
    copy_phones_txt(lang_dir, exp)
    if not (exp / "0.mdl").is_file() or not (exp / "tree").is_file():
        reader = FeatureReader(data_dir, cmvn=cfg.cmvn, deltas=cfg.deltas)
        utts = reader.utts[:cfg.num_init_utts]
        mean, var = global_gaussian([reader[u] for u in utts])
        ctx, tm, am = init_mono(lang.topology(), lang.sets, mean, var)
        model_io.write_tree(exp / "tree", ctx)
        model_io.write_model(exp / "0.mdl", tm, am)
        log.info("gmm-init-mono: %d pdfs, feature dim %d, from %d utterances",
                 am.num_pdfs, am.dim, len(utts))
    return run_em(exp, data_dir, lang_dir, cfg.em_config(), nj=nj, cmd=cmd, start_iter=0,
                  first_mode="equal")

