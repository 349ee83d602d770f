#!/usr/bin/env python3
"""Per-speaker CMVN stats of a data dir (Kaldi's steps/compute_cmvn_stats.sh contract).

Usage: compute_cmvn_stats.py <data-dir> [<log-dir> [<cmvn-dir>]]
 e.g.: compute_cmvn_stats.py data/train exp/make_mfcc/train mfcc

Writes <cmvn-dir>/cmvn_<set>.{ark,scp} (Kaldi (2, D+1) double matrices per speaker) and
<data-dir>/cmvn.scp; log in <log-dir>/cmvn_<set>.log.
Defaults: <log-dir> = <data-dir>/log, <cmvn-dir> = <data-dir>/data (as Kaldi).
"""

import argparse
import logging
import os
import sys

from kaldi_kd.data.make_feats import compute_cmvn_dir
from kaldi_kd.errors import require_files, run_main


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data_dir")
    p.add_argument("log_dir", nargs="?")
    p.add_argument("cmvn_dir", nargs="?")
    a = p.parse_args()
    log_dir = a.log_dir or os.path.join(a.data_dir, "log")
    cmvn_dir = a.cmvn_dir or os.path.join(a.data_dir, "data")
    os.makedirs(log_dir, exist_ok=True)
    name = os.path.basename(os.path.normpath(a.data_dir))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s compute_cmvn_stats: %(message)s",
                        handlers=[logging.StreamHandler(),
                                  logging.FileHandler(os.path.join(log_dir, f"cmvn_{name}.log"), mode="w")])
    require_files([os.path.join(a.data_dir, "feats.scp"), os.path.join(a.data_dir, "utt2spk")],
                  "run steps_py/make_feats.py first")
    n = compute_cmvn_dir(a.data_dir, cmvn_dir)
    logging.info("%s: CMVN stats for %d speakers in %s/cmvn.scp", a.data_dir, n, a.data_dir)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
