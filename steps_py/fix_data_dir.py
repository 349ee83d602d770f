#!/usr/bin/env python3
"""Keep the consistent part of a data dir (Kaldi's utils/fix_data_dir.sh); old files in .backup/.

Usage: fix_data_dir.py <data-dir>
 e.g.: fix_data_dir.py data/train
"""

import argparse
import sys

from kaldi_kd.data.datadir import DataDir, DataDirError


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data_dir")
    a = p.parse_args()
    try:
        report = DataDir.load(a.data_dir).fix()
    except DataDirError as err:
        print(f"fix_data_dir.py: {err}", file=sys.stderr)
        return 1
    print(f"fix_data_dir.py: {a.data_dir}: {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
