#!/usr/bin/env python3
"""Compute MFCC or fbank features for a data dir (Kaldi's steps/make_mfcc.sh contract).

Usage: make_feats.py [options] <data-dir> [<log-dir> [<feat-dir>]]
 e.g.: make_feats.py --feat-type mfcc --config conf/mfcc.conf --nj 4 --cmd steps_py/run.pl \\
           data/train exp/make_mfcc/train mfcc

Writes <feat-dir>/raw_<type>_<set>.JOB.{ark,scp}, <data-dir>/feats.scp, utt2num_frames and
<data-dir>/conf/<type>.conf; logs in <log-dir>/make_<type>_<set>.JOB.log.
Defaults: <log-dir> = <data-dir>/log, <feat-dir> = <data-dir>/data (as Kaldi).
"""

import argparse
import logging
import os
import sys

from kaldi_kd.data.features import FeatureConfig
from kaldi_kd.data.make_feats import make_feats
from kaldi_kd.errors import require_files, run_main


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--feat-type", default="mfcc", choices=["mfcc", "fbank"])
    p.add_argument("--config", default=None, help="Kaldi options file (default: conf/<feat-type>.conf if present)")
    p.add_argument("--nj", type=int, default=4, help="number of jobs")
    p.add_argument("--compress", action="store_true", help="Kaldi compressed matrices (lossy; Kaldi's default)")
    p.add_argument("--cmd", default="", help="job runner, e.g. steps_py/run.pl (default: in-process jobs)")
    p.add_argument("data_dir")
    p.add_argument("log_dir", nargs="?")
    p.add_argument("feat_dir", nargs="?")
    a = p.parse_args()
    log_dir = a.log_dir or os.path.join(a.data_dir, "log")
    feat_dir = a.feat_dir or os.path.join(a.data_dir, "data")
    config = a.config or (f"conf/{a.feat_type}.conf" if os.path.isfile(f"conf/{a.feat_type}.conf") else None)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s make_feats: %(message)s")
    require_files([os.path.join(a.data_dir, f) for f in ("wav.scp", "utt2spk")], "prepare the data dir first")
    cfg = FeatureConfig.from_file(config, a.feat_type) if config else FeatureConfig(a.feat_type)
    summary = make_feats(a.data_dir, log_dir, feat_dir, cfg, a.nj, a.cmd or None, a.compress)
    logging.info("%s: %s features: %s", a.data_dir, a.feat_type, summary)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
