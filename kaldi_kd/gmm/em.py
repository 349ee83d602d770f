"""The GMM-HMM EM loop shared by monophone and triphone training.

One iteration x, as in Kaldi's ``steps/train_mono.sh`` / ``train_deltas.sh``:

1. per job n (a split of the data dir): align with ``x.mdl`` when x is a realign
   iteration (``gmm-align-compiled`` with silence boosting; iteration 0 of monophone
   training uses ``align-equal-compiled``), else reuse ``ali.n.gz``; accumulate GMM
   and transition statistics (``gmm-acc-stats-ali``) into ``x.n.acc.npz``;
2. sum them, ML-update the model, mix up toward the iteration's Gaussian target
   (``gmm-est --mix-up --power``), write ``x+1.mdl`` atomically.

Jobs run in a local process pool (per-job logs ``log/acc.x.n.log``) or, with a
Kaldi-style ``--cmd`` runner, as ``<cmd> JOB=1:N log/acc.x.JOB.log python -m
kaldi_kd.gmm.em <spec.json> JOB``.  An iteration whose ``x+1.mdl`` exists is skipped,
so a killed run is resumed by running it again.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from kaldi_kd.data.tables import read_int_vectors, write_int_vectors
from kaldi_kd.gmm import model_io
from kaldi_kd.gmm.align import (AlignConfig, align_set, compile_graphs, equal_align,
                                make_graph_compiler, transcripts_to_ids)
from kaldi_kd.gmm.gmm_feats import FeatOpts, GmmFeatures
from kaldi_kd.gmm.stats import GmmStats, UpdateConfig, accumulate, accumulate_transitions, \
    limit_blas_threads, load_and_sum, pdf_params, update_model

PathLike = Union[str, os.PathLike]
log = logging.getLogger(__name__)


@dataclass
class EMConfig:
    """Options of the EM loop (defaults: Kaldi's train_mono.sh)."""

    num_iters: int = 40
    max_iter_inc: int = 30
    totgauss: int = 1000
    power: float = 0.25
    realign_iters: Tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 16, 18, 20, 23,
                                      26, 29, 32, 35, 38)
    first_beam: float = 6.0       # beam of the first realignment (train_mono.sh)
    beam: float = 10.0
    retry_beam: float = 40.0
    careful: bool = False
    boost_silence: float = 1.0
    feats: FeatOpts = field(default_factory=FeatOpts)
    first_min_gaussian_occupancy: float = 3.0   # gmm-est on the equal alignment
    mllt_iters: Tuple[int, ...] = ()              # LDA+MLLT systems (train_lda_mllt.sh)


@dataclass
class JobSpec:
    """What one accumulation job needs (serialised to JSON for ``--cmd`` runners)."""

    exp_dir: str
    split_dir: str          # data dir split base: <split_dir>/<job>
    lang_dir: str
    iteration: int
    mode: str               # "equal" | "realign" | "reuse"; "mllt": MLLT stats only
    beam: float = 10.0
    retry_beam: float = 40.0
    careful: bool = False
    boost_silence: float = 1.0
    feats: Dict[str, Any] = field(default_factory=lambda: asdict(FeatOpts()))
    model: str = ""         # model file in exp_dir (default "<iteration>.mdl")


def _load_job_inputs(spec: JobSpec, job: int):
    from kaldi_kd.data.datadir import DataDir
    from kaldi_kd.gmm.lang import Lang

    exp = Path(spec.exp_dir)
    tm, am = model_io.read_model(exp / (spec.model or f"{spec.iteration}.mdl"))
    data = DataDir.load(Path(spec.split_dir) / str(job))
    feats = GmmFeatures(data.path, FeatOpts(**spec.feats), model_dir=exp)
    return exp, tm, am, data, feats, Lang(spec.lang_dir, validate=False)


def _job_alignments(spec: JobSpec, job: int, exp, tm, am, data, feats, lang
                    ) -> Tuple[Dict[str, np.ndarray], List[str]]:
    ali_path = exp / f"ali.{job}.gz"
    if spec.mode in ("reuse", "mllt"):
        return dict(read_int_vectors(ali_path)), []
    ctx = model_io.read_tree(exp / "tree")
    transcripts, num_oov = transcripts_to_ids(data.text, lang)
    if num_oov:
        log.info("%d OOV words mapped to %s", num_oov, lang.oov_word)
    t0 = time.time()
    graphs = compile_graphs(make_graph_compiler(tm, ctx, lang.lexicon_fst()), transcripts)
    log.info("compiled %d training graphs in %.2fs", len(graphs), time.time() - t0)
    if spec.mode == "equal":
        alis, failed = {}, []
        for utt in sorted(graphs):
            ali = equal_align(graphs[utt], len(feats[utt]))
            if ali is None:
                log.warning("Equal alignment failed for utterance %s", utt)
                failed.append(utt)
            else:
                alis[utt] = ali
    else:
        cfg = AlignConfig(beam=spec.beam, retry_beam=spec.retry_beam, careful=spec.careful,
                          boost_silence=spec.boost_silence)
        res = align_set(tm, am, graphs, feats, cfg, silence_phones=[lang.optional_silence],
                        utts=sorted(graphs))
        alis, failed = res.alignments, res.failed
    write_int_vectors(ali_path, sorted(alis.items()))
    return alis, failed


def em_job(job: int, spec: JobSpec) -> Dict[str, Any]:
    """One accumulation job: (re)align if asked, accumulate, save ``x.job.acc.npz``.

    Returns:
        summary: frames, log-likelihood, number aligned, failed utterance ids.
    """
    limit_blas_threads(1)
    exp, tm, am, data, feats, lang = _load_job_inputs(spec, job)
    alis, failed = _job_alignments(spec, job, exp, tm, am, data, feats, lang)
    if spec.mode == "mllt":
        return _mllt_job(job, spec, exp, tm, am, feats, alis, lang)
    stats = GmmStats.zeros(am, tm)
    id2pdf = np.asarray(tm.id2pdf_id)
    xs, pdfs = [], []
    for utt, ali in sorted(alis.items()):
        x = feats[utt]
        if len(x) != len(ali):
            log.warning("utterance %s: alignment length %d != %d frames; skipped",
                        utt, len(ali), len(x))
            failed.append(utt)
            continue
        xs.append(x)
        pdfs.append(id2pdf[ali])
        accumulate_transitions(stats, ali)
    if xs:
        accumulate(stats, pdf_params(am), np.concatenate(xs), np.concatenate(pdfs))
    log.info("Overall avg like per frame (Gaussian only) = %.4f over %d frames; "
             "%d utterances, %d failed", stats.like_per_frame, stats.tot_frames, len(xs),
             len(failed))
    stats.save(exp / f"{spec.iteration}.{job}.acc.npz")
    return {"frames": stats.tot_frames, "like": stats.tot_like, "done": len(xs),
            "failed": sorted(failed)}


def _mllt_job(job: int, spec: JobSpec, exp: Path, tm, am, feats, alis, lang) -> Dict[str, Any]:
    """gmm-acc-mllt (silence frames weighted 0, as train_lda_mllt.sh) -> x.job.macc.npz."""
    from kaldi_kd.gmm.lda_mllt import MlltStats, silence_frame_weights

    mstats = MlltStats.zeros(am.dim)
    id2pdf = np.asarray(tm.id2pdf_id)
    xs, pdfs, ws = [], [], []
    for utt, ali in sorted(alis.items()):
        x = feats[utt]
        if len(x) == len(ali):
            xs.append(x)
            pdfs.append(id2pdf[ali])
            ws.append(silence_frame_weights(tm, ali, lang.silence))
    if xs:
        mstats.accumulate(am, np.concatenate(xs), np.concatenate(pdfs), np.concatenate(ws))
    mstats.save(exp / f"{spec.iteration}.{job}.macc.npz")
    log.info("MLLT stats: %.0f frames", mstats.beta)
    return {"frames": mstats.beta, "like": 0.0, "done": len(xs), "failed": []}


def run_jobs(spec: JobSpec, nj: int, cmd: Optional[str]) -> List[Dict[str, Any]]:
    """Run ``em_job`` for jobs 1..nj locally or through ``cmd``; return the summaries."""
    from kaldi_kd.data.jobs import run_spec_jobs

    return run_spec_jobs(em_job, spec, nj, cmd, "kaldi_kd.gmm.em", Path(spec.exp_dir) / "log",
                         f"acc.{spec.iteration}")


@dataclass
class IterationLog:
    """What one EM iteration reports (also written to log/train.log)."""

    iteration: int
    like_per_frame: float
    frames: float
    num_gauss: int
    failed: List[str] = field(default_factory=list)
    seconds: float = 0.0


def run_em(exp_dir: PathLike, data_dir: PathLike, lang_dir: PathLike, cfg: EMConfig,
           nj: int = 1, cmd: Optional[str] = None, start_iter: int = 0,
           first_mode: str = "equal", start_gauss: Optional[int] = None) -> List[IterationLog]:
    """Iterate EM from ``start_iter.mdl`` to ``num_iters.mdl``; link ``final.mdl``.

    Args:
        exp_dir: holds ``tree``, ``<start_iter>.mdl`` (and ``ali.N.gz`` for "reuse").
        data_dir: training data dir (split into ``nj`` parts by speaker).
        lang_dir: lang dir (L.fst, words.txt, oov, optional silence).
        cfg: options.
        first_mode: alignment of the first iteration: "equal" (monophone) or "reuse".
        start_gauss: Gaussian target at ``start_iter`` (default: the model's count).

    Returns:
        one :class:`IterationLog` per iteration run (skipped iterations excluded).
    """
    from kaldi_kd.data.datadir import DataDir

    exp = Path(exp_dir)
    (exp / "log").mkdir(parents=True, exist_ok=True)
    d = DataDir.load(data_dir)
    d.split(nj)
    split_dir = d.path / f"split{nj}"
    (exp / "num_jobs").write_text(f"{nj}\n")
    _, am0 = model_io.read_model(exp / f"{start_iter}.mdl")
    numgauss = start_gauss if start_gauss is not None else am0.num_gauss
    incgauss = max(0, (cfg.totgauss - numgauss) // max(1, cfg.max_iter_inc))
    first_realign = True
    logs: List[IterationLog] = []
    feats = FeatOpts(**asdict(cfg.feats))
    from tqdm import tqdm

    for x in tqdm(range(start_iter, cfg.num_iters), desc=f"EM {exp.name}", unit="iter",
                  disable=None):
        if x == start_iter:
            mode = first_mode
        else:
            mode = "realign" if x in cfg.realign_iters else "reuse"
        # gmm-est --mix-up=$numgauss, numgauss += incgauss after each x <= max_iter_inc
        target = numgauss + incgauss * max(0, min(x - 1, cfg.max_iter_inc))
        used_beam = cfg.first_beam if first_realign else cfg.beam
        if mode == "realign":
            first_realign = False
        done = (exp / f"{x + 1}.mdl").is_file()
        model = f"{x}.mdl"
        if x in cfg.mllt_iters:
            if not done:
                _mllt_update(exp, x, split_dir, lang_dir, feats, nj, cmd)
            feats.transform = f"{x}.mat"
            model = f"{x}.mllt.mdl"
        if done:
            log.info("iteration %d: %d.mdl exists, skipped", x, x + 1)
            continue
        t0 = time.time()
        spec = JobSpec(str(exp), str(split_dir), str(lang_dir), x, mode, used_beam,
                       cfg.retry_beam, cfg.careful, cfg.boost_silence, asdict(feats), model)
        summaries = run_jobs(spec, nj, cmd)
        logs.append(_update(exp, x, spec, summaries, cfg, target, time.time() - t0))
    if feats.transform:
        _link(exp, "final.mat", feats.transform)
    _link_final(exp, cfg.num_iters)
    return logs


def _mllt_update(exp: Path, x: int, split_dir: Path, lang_dir: PathLike, feats: FeatOpts,
                 nj: int, cmd: Optional[str]) -> None:
    """MLLT at iteration x: stats with the current transform, est-mllt, gmm-transform-means
    (x.mdl -> x.mllt.mdl), compose-transforms (A * current -> x.mat)."""
    from kaldi_kd.gmm.lda_mllt import MlltStats, estimate_mllt, transform_means

    spec = JobSpec(str(exp), str(split_dir), str(lang_dir), x, "mllt", feats=asdict(feats))
    summaries = run_jobs(spec, nj, cmd)
    paths = [exp / f"{x}.{n}.macc.npz" for n in range(1, len(summaries) + 1)]
    stats = MlltStats.load_and_sum(paths)
    a, objf_before, objf_after = estimate_mllt(stats)
    tm, am = model_io.read_model(exp / f"{x}.mdl")
    am = transform_means(am, a)
    model_io.write_model(exp / f"{x}.mllt.mdl", tm, am)
    cur = model_io.read_matrix(exp / feats.transform)
    model_io.write_matrix(exp / f"{x}.mat", a.astype(np.float64) @ cur.astype(np.float64))
    for p in paths:
        p.unlink()
    log.info("iteration %d: MLLT objf %.4f -> %.4f per frame over %.0f frames -> %d.mat",
             x, objf_before, objf_after, stats.beta, x)


def _update(exp: Path, x: int, spec: JobSpec, summaries: List[Dict[str, Any]], cfg: EMConfig,
            target: int, seconds: float) -> IterationLog:
    tm, am = model_io.read_model(exp / (spec.model or f"{x}.mdl"))
    nj = len(summaries)
    acc_paths = [exp / f"{x}.{n}.acc.npz" for n in range(1, nj + 1)]
    stats = load_and_sum(acc_paths)
    ucfg = UpdateConfig(mix_up=target, power=cfg.power)
    if spec.mode == "equal":
        ucfg.min_gaussian_occupancy = cfg.first_min_gaussian_occupancy
    res = update_model(tm, am, stats, ucfg)
    model_io.write_model(exp / f"{x + 1}.mdl", tm, am)
    for p in acc_paths:
        p.unlink()
    failed = sorted(u for s in summaries for u in s["failed"])
    it = IterationLog(x, res.like_per_frame, res.frames, res.num_gauss, failed, seconds)
    log.info("iteration %d (%s): avg like per frame %.4f over %d frames; %d failed; "
             "GMM objf impr %.4f, transition objf impr %.4f; %d Gaussians -> %d.mdl (%.1fs)",
             x, spec.mode, it.like_per_frame, it.frames, len(failed),
             res.gmm_objf_impr / max(res.gmm_count, 1.0),
             res.trans_objf_impr / max(res.trans_count, 1.0), it.num_gauss, x + 1, seconds)
    with open(exp / "log" / "like_per_frame.txt", "a") as f:
        f.write(f"{x} {it.like_per_frame:.6f} {int(it.frames)} {len(failed)} {it.num_gauss}\n")
    return it


def _link_final(exp: Path, last: int) -> None:
    _link(exp, "final.mdl", f"{last}.mdl")


def _link(exp: Path, name: str, target: str) -> None:
    """``exp/name`` -> ``target`` (a relative symlink, as Kaldi's ln -s), atomically."""
    tmp = exp / f".{name}.tmp"
    if tmp.exists() or tmp.is_symlink():
        tmp.unlink()
    os.symlink(target, tmp)
    os.replace(tmp, exp / name)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m kaldi_kd.gmm.em <spec.json> <job>``: one job for a ``--cmd`` runner."""
    from kaldi_kd.data.jobs import spec_job_main

    return spec_job_main(argv, "kaldi_kd.gmm.em", JobSpec, em_job)


if __name__ == "__main__":
    sys.exit(main())
