#!/usr/bin/env python3
"""Copy a data dir without its features (Kaldi's utils/copy_data_dir.sh), e.g. for other features.

Usage: copy_data_dir.py [--with-feats] <src-data-dir> <dest-data-dir>
 e.g.: copy_data_dir.py data/train data/train_fbank
"""

import argparse
import sys

from kaldi_kd.data.datadir import DataDir
from kaldi_kd.errors import run_main


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--with-feats", action="store_true", help="also copy feats.scp, cmvn.scp, utt2num_frames")
    p.add_argument("src")
    p.add_argument("dest")
    a = p.parse_args()
    DataDir.load(a.src).copy(a.dest, with_feats=a.with_feats)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
