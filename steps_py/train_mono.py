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
import sys
from pathlib import Path

from kaldi_kd.errors import run_main
from kaldi_kd.gmm.stage import (add_em_options, add_job_options, em_options,
                              log_training_done, require_files, setup_logging)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # options and defaults (train_mono.sh's)
    add_job_options(p)
    add_em_options(p, num_iters=40, max_iter_inc=30,
                   realign_iters="1 2 3 4 5 6 7 8 9 10 12 14 16 18 20 23 26 29 32 35 38")
    p.add_argument("--totgauss", type=int, default=1000, help="target number of Gaussians")
    p.add_argument("data_dir")
    p.add_argument("lang_dir")
    p.add_argument("exp_dir")
    a = p.parse_args()
    setup_logging(Path(a.exp_dir) / "log" / "train_mono.log", "train_mono")
    require_files("train_mono.py", [Path(a.data_dir) / f for f in ("feats.scp", "cmvn.scp", "text", "utt2spk")]
                  + [Path(a.lang_dir) / f for f in ("L.fst", "topo", "words.txt", "oov.int",
                                                      "phones/sets.int", "phones/optional_silence.int")])
    from kaldi_kd.gmm.train_mono import MonoConfig, train_mono

    cfg = MonoConfig(**em_options(a), totgauss=a.totgauss)
    logs = train_mono(a.data_dir, a.lang_dir, a.exp_dir, cfg, nj=a.nj, cmd=a.cmd or None)
    log_training_done(a.exp_dir, logs)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
