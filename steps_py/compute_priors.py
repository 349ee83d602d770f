#!/usr/bin/env python3
"""Decoding priors from a trained AM's own posteriors (Kaldi nnet3's adjust-priors step).

Usage:
    compute_priors.py [options] <train-data-dir> <am-exp-dir>
e.g.:
    compute_priors.py --num-utts 500 data/train_fbank exp/kd/interp_seed1

Sums softmax outputs of <am-exp-dir>/best.pt (see --checkpoint) over --num-utts utterances
spread over <train-data-dir> and writes <am-exp-dir>/post_prior_counts (a Kaldi text
vector).  nnet_forward.py then divides by these priors instead of the alignment counts
in prior_counts.  train_am.py runs this itself at the end (TrainConfig.prior_utts); run
it by hand for AMs trained before, or with another subset.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from kaldi_kd.am.forward import write_posterior_priors
from kaldi_kd.errors import InputError, require_files, run_main
from kaldi_kd.train.config import TrainConfig


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        usage="%(prog)s [options] <train-data-dir> <am-exp-dir>\n"
              "e.g.: %(prog)s --num-utts 500 data/train_fbank exp/kd/interp_seed1")
    p.add_argument("--num-utts", type=int, default=TrainConfig.prior_utts, help="training utterances averaged over")
    p.add_argument("--checkpoint", default="best.pt", help="model file inside <am-exp-dir>")
    p.add_argument("--device", default="cpu", help="torch device")
    p.add_argument("data_dir", metavar="<train-data-dir>")
    p.add_argument("am_dir", metavar="<am-exp-dir>")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    require_files([Path(a.data_dir) / "feats.scp", Path(a.am_dir) / a.checkpoint, Path(a.am_dir) / "config.yaml"])
    if a.num_utts < 1:
        raise InputError(f"--num-utts must be >= 1, got {a.num_utts}")
    out = write_posterior_priors(a.data_dir, a.am_dir, a.num_utts, a.checkpoint, a.device, progress=True)
    print(f"compute_priors.py: wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
