#!/usr/bin/env python3
"""Vectorised GMM statistics vs per-frame binding calls (gmm-acc-stats-ali).

Usage: bench/gmm_stats.py [--frames N] [--pdfs P] [--gauss G] [--dim D] [--out JSON]
 e.g.: bench/gmm_stats.py --frames 100000 --out bench/results/gmm_stats.json

Times kaldi_kd.gmm.stats.accumulate (numpy over all frames of a pdf at once) against
AccumAmDiagGmm.accumulate_for_gmm called once per frame, on random data, and checks
that both give the same total log-likelihood.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from kaldi_kd.kaldi.wheels import kaldi_hmm_gmm
from kaldi_kd.gmm.stats import GmmStats, accumulate, limit_blas_threads, pdf_params


def random_am(num_pdfs: int, num_gauss: int, dim: int, rng) -> "kaldi_hmm_gmm.AmDiagGmm":
    am = kaldi_hmm_gmm.AmDiagGmm()
    for _ in range(num_pdfs):
        g = kaldi_hmm_gmm.DiagGmm(num_gauss, dim)
        w = rng.uniform(0.5, 1.0, num_gauss).astype(np.float32)
        g.set_weights(w / w.sum())
        g.set_invvars(rng.uniform(0.5, 2.0, (num_gauss, dim)).astype(np.float32))
        g.set_means(rng.normal(size=(num_gauss, dim)).astype(np.float32))
        g.compute_gconsts()
        am.add_pdf(g)
    return am


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=50000)
    p.add_argument("--pdfs", type=int, default=300)
    p.add_argument("--gauss", type=int, default=8)
    p.add_argument("--dim", type=int, default=39)
    p.add_argument("--out", default="")
    p.add_argument("--blas-threads", type=int, default=1, help="0: leave OpenBLAS's default")
    a = p.parse_args()
    if a.blas_threads:
        limit_blas_threads(a.blas_threads)
    rng = np.random.default_rng(0)
    am = random_am(a.pdfs, a.gauss, a.dim, rng)
    feats = rng.normal(size=(a.frames, a.dim)).astype(np.float32)
    pdfs = rng.integers(0, a.pdfs, a.frames)

    class _TM:  # GmmStats.zeros only needs the number of transition-ids
        num_transition_ids = 1

    stats = GmmStats.zeros(am, _TM)
    t0 = time.perf_counter()
    like_vec = accumulate(stats, pdf_params(am), feats, pdfs)
    t_vec = time.perf_counter() - t0
    acc = kaldi_hmm_gmm.AccumAmDiagGmm()
    acc.init(am, kaldi_hmm_gmm.str_to_gmm_flags("mvw"))
    t0 = time.perf_counter()
    like_bind = sum(acc.accumulate_for_gmm(am, feats[i], int(pdfs[i]), 1.0) for i in range(a.frames))
    t_bind = time.perf_counter() - t0
    res = {"frames": a.frames, "pdfs": a.pdfs, "gauss_per_pdf": a.gauss, "dim": a.dim,
           "vectorised_s": round(t_vec, 4), "per_frame_binding_s": round(t_bind, 4),
           "speedup": round(t_bind / t_vec, 2),
           "like_rel_diff": abs(like_vec - like_bind) / abs(like_bind)}
    print(json.dumps(res, indent=1))
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
