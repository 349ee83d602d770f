#!/usr/bin/env python3
"""Monophone GMM-HMM training (Kaldi's steps/train_mono.sh contract).

Usage: train_mono.py [options] <data-dir> <lang-dir> <exp-dir>
 e.g.: train_mono.py --nj 4 --cmd steps_py/run.pl data/train data/lang exp/mono

Writes <exp-dir>/{0..N.mdl, final.mdl, tree, ali.JOB.gz, num_jobs, config.yaml,
log/}; log/train_mono.log and log/like_per_frame.txt hold the per-iteration average
log-likelihood per frame.  Features: MFCC + per-speaker CMVN + deltas (order 2).
Rerunning continues after the last finished iteration.
"""

import argparse
import logging
import sys
from pathlib import Path

from kaldi_kd.gmm.stage import StageInputError, require_files, setup_logging


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # options and defaults (train_mono.sh's)
    p.add_argument("--nj", type=int, default=4, help="parallel jobs (default 4)")
    p.add_argument("--cmd", default="", help="Kaldi-style job runner, e.g. steps_py/run.pl "
                   "(default: run jobs in-process with per-job logs)")
    p.add_argument("--num-iters", type=int, default=40)
    p.add_argument("--max-iter-inc", type=int, default=30, help="last iteration that adds Gaussians")
    p.add_argument("--realign-iters", default="1 2 3 4 5 6 7 8 9 10 12 14 16 18 20 23 26 29 32 35 38", help="iterations that realign")
    p.add_argument("--totgauss", type=int, default=1000, help="target number of Gaussians")
    p.add_argument("--boost-silence", type=float, default=1.0)
    p.add_argument("--power", type=float, default=0.25, help="exponent for mixture allocation")
    p.add_argument("--careful", action="store_true")
    p.add_argument("data_dir")
    p.add_argument("lang_dir")
    p.add_argument("exp_dir")
    a = p.parse_args()
    setup_logging(Path(a.exp_dir) / "log" / "train_mono.log", "train_mono")
    try:
        require_files("train_mono.py", [Path(a.data_dir) / f for f in ("feats.scp", "cmvn.scp", "text", "utt2spk")]
                      + [Path(a.lang_dir) / f for f in ("L.fst", "topo", "words.txt", "oov.int",
                                                          "phones/sets.int", "phones/optional_silence.int")])
        from kaldi_kd.gmm.train_mono import MonoConfig, train_mono

        cfg = MonoConfig(realign_iters=tuple(int(x) for x in a.realign_iters.split()),
                         num_iters=a.num_iters, totgauss=a.totgauss, boost_silence=a.boost_silence,
                         power=a.power, careful=a.careful,
                         max_iter_inc=min(a.max_iter_inc, max(1, a.num_iters - 1)))
        logs = train_mono(a.data_dir, a.lang_dir, a.exp_dir, cfg, nj=a.nj, cmd=a.cmd or None)
    except (StageInputError, ValueError, RuntimeError) as err:
        logging.error("%s", err)
        return 1
    if logs:
        last = logs[-1]
        logging.info("done: %s/final.mdl, last iteration %d: %.4f per frame, %d Gaussians, "
                     "%d utterances failed to align", a.exp_dir, last.iteration,
                     last.like_per_frame, last.num_gauss, len(last.failed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
