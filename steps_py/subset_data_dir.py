#!/usr/bin/env python3
"""Subset of a data dir (Kaldi's utils/subset_data_dir.sh), features and CMVN kept.

Usage: subset_data_dir.py [--shortest|--first|--last] <src-data-dir> <num-utts> <dest-data-dir>
       subset_data_dir.py --hours <H> <src-data-dir> <dest-data-dir>
       subset_data_dir.py --utt-list <file> <src-data-dir> <dest-data-dir>
 e.g.: subset_data_dir.py --shortest data/train_clean_100 2000 data/train_2kshort
       subset_data_dir.py --hours 0.5 data/train data/train_0.5h

Default: <num-utts> utterances evenly spread over the sorted list (all speakers covered).
--hours: the fewest evenly spread utterances with at least H hours (utt2dur or utt2num_frames).
--utt-list: the utterances listed (first field of each line), e.g. another subset's utt2spk.
"""

import argparse
import sys

from kaldi_kd.data.datadir import DataDir
from kaldi_kd.data.subset import pick_utts_hours, read_utt_list, subset_data_dir
from kaldi_kd.errors import run_main


def main() -> int:
    p = argparse.ArgumentParser(
        usage="%(prog)s [--shortest|--first|--last] <src-data-dir> <num-utts> <dest-data-dir>\n"
              "       %(prog)s --hours H | --utt-list FILE <src-data-dir> <dest-data-dir>\n"
              " e.g.: %(prog)s --shortest data/train_clean_100 2000 data/train_2kshort",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_mutually_exclusive_group()
    for mode in ("shortest", "first", "last"):
        g.add_argument(f"--{mode}", dest="mode", action="store_const", const=mode)
    g.add_argument("--hours", type=float, default=None, help="at least this much audio, spread")
    g.add_argument("--utt-list", default=None, help="keep the utterances of this file")
    p.add_argument("args", nargs="+", metavar="<src-data-dir> [<num-utts>] <dest-data-dir>")
    a = p.parse_args()
    by_size = a.hours is None and a.utt_list is None
    if len(a.args) != (3 if by_size else 2):
        p.error("expected <src-data-dir> <num-utts> <dest-data-dir>" if by_size else
                "expected <src-data-dir> <dest-data-dir> with --hours / --utt-list")
    a.src, a.dest = a.args[0], a.args[-1]
    if by_size:
        out = subset_data_dir(a.src, int(a.args[1]), a.dest, a.mode or "spread")
    else:
        d = DataDir.load(a.src)
        utts = pick_utts_hours(d, a.hours) if a.hours is not None else read_utt_list(a.utt_list, d)
        out = d.subset(utts, a.dest)
    print(f"subset_data_dir.py: {len(out.utts)} utterances, {len(out.speakers)} speakers in {a.dest}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
