"""Triphone (delta-feature) GMM-HMM training: Kaldi's ``steps/train_deltas.sh`` ("tri1").

Stages (files as Kaldi's, in the exp dir):

1. tree statistics from the source alignments (``acc-tree-stats``, context-independent
   phones from ``phones/context_indep.int``) -> ``treeacc.npz`` (numpy, not Kaldi's
   binary accs);
2. questions (``cluster-phones`` + ``extra_questions``) -> ``questions.int``;
   ``build-tree`` to ``num_leaves`` -> ``tree`` (Kaldi format);
3. ``gmm-init-model`` (one Gaussian per pdf from the tree statistics) -> ``1.mdl``;
4. ``convert-ali`` of the source alignments to the new model -> ``ali.N.gz``;
5. EM iterations 1..num_iters-1 with realignment at ``realign_iters`` and mixing up
   from ``num_leaves`` toward ``tot_gauss`` Gaussians -> ``num_iters.mdl``, ``final.mdl``.

With real Kaldi a recipe may call ``steps/train_deltas.sh`` instead; both produce
final.mdl, tree, ali.N.gz, num_jobs and log/ under the same names.

Example:
    >>> train_deltas(2000, 10000, "data/train", "data/lang", "exp/mono_ali", "exp/tri1")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Tuple, Union

import numpy as np

from kaldi_kd.data.atomic import write_text_atomic
from kaldi_kd.data.tables import read_int_vectors, write_int_vectors
from kaldi_kd.errors import MissingFileError
from kaldi_kd.gmm import model_io
from kaldi_kd.gmm.convert import AlignmentConverter, init_model_from_tree
from kaldi_kd.gmm.em import EMConfig, IterationLog, run_em
from kaldi_kd.gmm.stage import config_yaml, copy_phones_txt
from kaldi_kd.gmm.gmm_feats import FeatOpts, GmmFeatures
from kaldi_kd.gmm.stats import limit_blas_threads
from kaldi_kd.gmm.tree import TreeConfig, build_tree, cluster_phones
from kaldi_kd.gmm.tree_stats import accumulate_tree_stats

PathLike = Union[str, os.PathLike]
log = logging.getLogger(__name__)


@dataclass
class DeltasConfig:
    """train_deltas.sh options (Kaldi defaults) plus build-tree's."""

    num_iters: int = 35
    max_iter_inc: int = 25
    realign_iters: Tuple[int, ...] = (10, 20, 30)
    beam: float = 10.0
    retry_beam: float = 40.0
    careful: bool = False
    boost_silence: float = 1.0
    power: float = 0.25
    cluster_thresh: float = -1.0
    thresh: float = 300.0
    cmvn: bool = True
    deltas: int = 2

    def em_config(self, tot_gauss: int) -> EMConfig:
        return triphone_em_config(self, tot_gauss, FeatOpts(cmvn=self.cmvn, deltas=self.deltas))


def triphone_em_config(cfg, tot_gauss: int, feats: FeatOpts, **extra) -> EMConfig:
    """The EM options of a triphone config (:class:`DeltasConfig`, ``LdaMlltConfig``):
    its iterations and beams (the first realignment too), mixing up toward ``tot_gauss``;
    ``extra`` sets further EMConfig fields (``mllt_iters``)."""
    return EMConfig(num_iters=cfg.num_iters, max_iter_inc=cfg.max_iter_inc,
                    totgauss=tot_gauss, power=cfg.power,
                    realign_iters=tuple(cfg.realign_iters), first_beam=cfg.beam,
                    beam=cfg.beam, retry_beam=cfg.retry_beam, careful=cfg.careful,
                    boost_silence=cfg.boost_silence, feats=feats, **extra)


def read_alignments(ali_dir: PathLike) -> Dict[str, np.ndarray]:
    """All ``ali.N.gz`` of an alignment dir (N = 1..num_jobs)."""
    d = Path(ali_dir)
    nj_file = d / "num_jobs"
    if not nj_file.is_file():
        raise MissingFileError(nj_file)
    out: Dict[str, np.ndarray] = {}
    for n in range(1, int(nj_file.read_text().split()[0]) + 1):
        path = d / f"ali.{n}.gz"
        if not path.is_file():
            raise MissingFileError(path)
        out.update(read_int_vectors(path))
    return out


def build_tree_stage(num_leaves: int, feats, lang, ali_dir: PathLike, exp: Path,
                     thresh: float, cluster_thresh: float):
    """Tree stats, questions, tree and 1.mdl in ``exp`` from ``ali_dir``'s alignments.

    Args:
        feats: utt -> features of the new system (any Mapping).

    Returns:
        (ContextDependency, utt -> alignment converted to the new model).
    """
    old_tm = model_io.read_transition_model(Path(ali_dir) / "final.mdl")
    alis = read_alignments(ali_dir)
    usable = [u for u in sorted(alis) if u in feats]
    stats = accumulate_tree_stats(old_tm, ((feats[u], alis[u]) for u in usable),
                                  ci_phones=lang.context_indep)
    stats.save(exp / "treeacc.npz")
    log.info("acc-tree-stats: %d events from %d utterances (%d frames)", len(stats.count),
             len(usable), int(stats.count.sum()))
    questions = cluster_phones(stats, lang.sets, lang.extra_questions)
    write_text_atomic(exp / "questions.int", "".join(" ".join(map(str, q)) + "\n" for q in questions))
    topo = lang.topology()
    res = build_tree(stats, lang.roots, questions, topo.get_phone_to_num_pdf_classes(),
                     TreeConfig(num_leaves=num_leaves, thresh=thresh,
                                cluster_thresh=cluster_thresh))
    ctx = res.tree.to_context_dependency()
    tm, am = init_model_from_tree(ctx, topo, stats, res.event_pdf)
    model_io.write_model(exp / "1.mdl", tm, am)
    conv = AlignmentConverter(old_tm, tm, ctx)
    return ctx, {u: conv(alis[u]) for u in usable}


def write_split_alignments(exp: Path, data_dir: PathLike, nj: int,
                           alis: Dict[str, np.ndarray]) -> None:
    """Write ``exp/ali.n.gz`` for the ``nj`` speaker splits of ``data_dir``."""
    from kaldi_kd.data.datadir import DataDir

    for n, part in enumerate(DataDir.load(data_dir).split(nj), start=1):
        write_int_vectors(exp / f"ali.{n}.gz", [(u, alis[u]) for u in part.utts if u in alis])


def start_triphone_exp(exp_dir: PathLike, cfg, num_leaves: int, tot_gauss: int) -> Path:
    """Make ``exp_dir/log`` and write ``config.yaml`` (``cfg`` + tree size); one BLAS thread."""
    limit_blas_threads(1)
    exp = Path(exp_dir)
    (exp / "log").mkdir(parents=True, exist_ok=True)
    write_text_atomic(exp / "config.yaml", config_yaml({**asdict(cfg), "num_leaves": num_leaves,
                                                        "tot_gauss": tot_gauss}))
    return exp


def tree_stage(exp: Path, make_feats: Callable[[], Mapping], lang, ali_dir: PathLike,
               data_dir: PathLike, num_leaves: int, cfg, nj: int) -> None:
    """Unless ``exp`` has ``tree`` and ``1.mdl``: :func:`build_tree_stage` on the features
    ``make_feats()`` returns, the converted alignments split ``nj`` ways, then ``tree``."""
    if (exp / "tree").is_file() and (exp / "1.mdl").is_file():
        return
    ctx, alis = build_tree_stage(num_leaves, make_feats(), lang, ali_dir, exp, cfg.thresh,
                                 cfg.cluster_thresh)
    write_split_alignments(exp, data_dir, nj, alis)
    model_io.write_tree(exp / "tree", ctx)   # last: marks the stage finished


def run_em_from_tree(exp: Path, data_dir: PathLike, lang_dir: PathLike, em: EMConfig, nj: int,
                     cmd: Optional[str]) -> List[IterationLog]:
    """EM iterations 1.. from the tree stage's ``1.mdl`` (one Gaussian per pdf to start)."""
    _, am = model_io.read_model(exp / "1.mdl")
    return run_em(exp, data_dir, lang_dir, em, nj=nj, cmd=cmd, start_iter=1, first_mode="reuse",
                  start_gauss=am.num_pdfs)


def train_deltas(num_leaves: int, tot_gauss: int, data_dir: PathLike, lang_dir: PathLike,
                 ali_dir: PathLike, exp_dir: PathLike, cfg: Optional[DeltasConfig] = None,
                 nj: int = 1, cmd: Optional[str] = None) -> List[IterationLog]:
    """Train a triphone system into ``exp_dir`` from the alignments in ``ali_dir``.

    Rerunnable: the tree stage is skipped when ``tree`` and ``1.mdl`` exist, finished
    EM iterations are skipped.

    Returns:
        the per-iteration logs.
    """
    from kaldi_kd.gmm.lang import Lang

    cfg = cfg or DeltasConfig()
    exp = start_triphone_exp(exp_dir, cfg, num_leaves, tot_gauss)
    FeatOpts(cmvn=cfg.cmvn, deltas=cfg.deltas).save(exp)
    lang = Lang(lang_dir)
    copy_phones_txt(lang_dir, exp)
    tree_stage(exp, lambda: GmmFeatures(data_dir, FeatOpts(cmvn=cfg.cmvn, deltas=cfg.deltas)), lang,
               ali_dir, data_dir, num_leaves, cfg, nj)
    return run_em_from_tree(exp, data_dir, lang_dir, cfg.em_config(tot_gauss), nj, cmd)
