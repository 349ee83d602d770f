#!/usr/bin/env python3
"""Split a data dir into N parts <data-dir>/split<N>/<n> (Kaldi's utils/split_data.sh).

Usage: split_data.py [--per-utt] <data-dir> <num-to-split>
 e.g.: split_data.py data/train 4
"""

import argparse
import sys

from kaldi_kd.data.datadir import DataDir
from kaldi_kd.errors import run_main


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--per-utt", action="store_true", help="split utterances, not speakers (split<N>utt)")
    p.add_argument("data_dir")
    p.add_argument("num", type=int)
    a = p.parse_args()
    DataDir.load(a.data_dir).split(a.num, per_utt=a.per_utt)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
