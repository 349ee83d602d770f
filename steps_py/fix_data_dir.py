#!/usr/bin/env python3
"""Keep the consistent part of a data dir (Kaldi's utils/fix_data_dir.sh); old files in .backup/.

Usage: fix_data_dir.py <data-dir>
 e.g.: fix_data_dir.py data/train
"""

import argparse
import sys

from kaldi_kd.data.datadir import DataDir
from kaldi_kd.errors import run_main


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data_dir")
    a = p.parse_args()
    report = DataDir.load(a.data_dir).fix()
    print(f"fix_data_dir.py: {a.data_dir}: {report}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
