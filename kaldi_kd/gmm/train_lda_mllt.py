"""LDA+MLLT triphone training: Kaldi's ``steps/train_lda_mllt.sh`` ("tri2").

1. Features: CMVN'd MFCC spliced +-``splice`` frames; ``acc-lda`` over the source
   alignments' pdfs (silence weight 0) and ``est-lda --dim`` -> ``0.mat``;
2. tree statistics on the LDA features, questions, ``build-tree``, ``gmm-init-model``
   -> ``tree``, ``1.mdl``; ``convert-ali`` -> ``ali.N.gz``;
3. EM iterations; at ``mllt_iters`` MLLT statistics, ``est-mllt``,
   ``gmm-transform-means`` and ``compose-transforms`` -> ``x.mat``; realignment at
   ``realign_iters``; mixing up toward ``tot_gauss``.
Outputs as Kaldi's: final.mdl, final.mat (the LDA+MLLT matrix, Kaldi matrix file),
tree, ali.N.gz, num_jobs, splice_opts, cmvn_opts, log/; ``feats.yaml`` tells our
later stages the same pipeline.

Example:
    >>> train_lda_mllt(2500, 15000, "data/train", "data/lang", "exp/tri1_ali", "exp/tri2")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple, Union

import numpy as np

from kaldi_kd.errors import InputError
from kaldi_kd.gmm import model_io
from kaldi_kd.gmm.em import IterationLog, _link
from kaldi_kd.gmm.stage import copy_phones_txt
from kaldi_kd.gmm.gmm_feats import FeatOpts, GmmFeatures
from kaldi_kd.gmm.lda_mllt import LdaStats, estimate_lda, silence_frame_weights
from kaldi_kd.gmm.train_deltas import (read_alignments, run_em_from_tree, start_triphone_exp, tree_stage,
                                       triphone_em_config)

PathLike = Union[str, os.PathLike]
log = logging.getLogger(__name__)


@dataclass
class LdaMlltConfig:
    """train_lda_mllt.sh options (Kaldi defaults)."""

    num_iters: int = 35
    max_iter_inc: int = 25
    realign_iters: Tuple[int, ...] = (10, 20, 30)
    mllt_iters: Tuple[int, ...] = (2, 4, 6, 12)
    dim: int = 40
    splice: int = 3
    beam: float = 10.0
    retry_beam: float = 40.0
    boost_silence: float = 1.0
    power: float = 0.25
    thresh: float = 300.0
    cluster_thresh: float = -1.0
    careful: bool = False


def estimate_lda_from_alignments(data_dir: PathLike, lang, ali_dir: PathLike, opts: FeatOpts,
                                 dim: int) -> np.ndarray:
    """acc-lda + est-lda on ``ali_dir``'s alignments (pdf classes, silence weight 0)."""
    tm = model_io.read_transition_model(Path(ali_dir) / "final.mdl")
    id2pdf = np.asarray(tm.id2pdf_id)
    feats = GmmFeatures(data_dir, opts)
    stats = None
    for utt, ali in sorted(read_alignments(ali_dir).items()):
        if utt not in feats:
            continue
        x = feats[utt]
        if stats is None:
            stats = LdaStats.zeros(tm.num_pdfs, x.shape[1])
        stats.accumulate(x, id2pdf[ali], silence_frame_weights(tm, ali, lang.silence))
    if stats is None:
        raise InputError(f"{ali_dir}: no alignments for utterances of {data_dir}")
    return estimate_lda(stats, dim)


def train_lda_mllt(num_leaves: int, tot_gauss: int, data_dir: PathLike, lang_dir: PathLike,
                   ali_dir: PathLike, exp_dir: PathLike, cfg: Optional[LdaMlltConfig] = None,
                   nj: int = 1, cmd: Optional[str] = None) -> List[IterationLog]:
    """Train an LDA+MLLT system into ``exp_dir`` (rerunnable)."""
    from kaldi_kd.gmm.lang import Lang

    cfg = cfg or LdaMlltConfig()
    exp = start_triphone_exp(exp_dir, cfg, num_leaves, tot_gauss)
    lang = Lang(lang_dir)
    copy_phones_txt(lang_dir, exp)
    spliced = FeatOpts(cmvn=True, deltas=0, splice=cfg.splice)
    if not (exp / "0.mat").is_file():
        lda = estimate_lda_from_alignments(data_dir, lang, ali_dir, spliced, cfg.dim)
        model_io.write_matrix(exp / "0.mat", lda)
        log.info("est-lda: %d x %d matrix -> 0.mat", *lda.shape)
    lda_opts = FeatOpts(cmvn=True, deltas=0, splice=cfg.splice, transform="0.mat")
    tree_stage(exp, lambda: GmmFeatures(data_dir, lda_opts, model_dir=exp), lang, ali_dir, data_dir,
               num_leaves, cfg, nj)
    em = triphone_em_config(cfg, tot_gauss, lda_opts, mllt_iters=tuple(cfg.mllt_iters))
    logs = run_em_from_tree(exp, data_dir, lang_dir, em, nj, cmd)
    if not (exp / "final.mat").exists():
        _link(exp, "final.mat", "0.mat")
    FeatOpts(cmvn=True, deltas=0, splice=cfg.splice, transform="final.mat").save(exp)
    return logs
