#!/usr/bin/env python3
"""Subset of a data dir (Kaldi's utils/subset_data_dir.sh), features and CMVN kept.

Usage: subset_data_dir.py [--shortest|--first|--last] <src-data-dir> <num-utts> <dest-data-dir>
 e.g.: subset_data_dir.py --shortest data/train_clean_100 2000 data/train_2kshort

Default: <num-utts> utterances evenly spread over the sorted list (all speakers covered).
"""

import argparse
import sys

from kaldi_kd.data.subset import subset_data_dir
from kaldi_kd.errors import run_main


def main() -> int:
    p = argparse.ArgumentParser(
        usage="%(prog)s [--shortest|--first|--last] <src-data-dir> <num-utts> <dest-data-dir>\n"
              " e.g.: %(prog)s --shortest data/train_clean_100 2000 data/train_2kshort",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_mutually_exclusive_group()
    for mode in ("shortest", "first", "last"):
        g.add_argument(f"--{mode}", dest="mode", action="store_const", const=mode)
    p.add_argument("src")
    p.add_argument("num", type=int)
    p.add_argument("dest")
    a = p.parse_args()
    out = subset_data_dir(a.src, a.num, a.dest, a.mode or "spread")
    print(f"subset_data_dir.py: {len(out.utts)} utterances, {len(out.speakers)} speakers in {a.dest}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
