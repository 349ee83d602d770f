#!/usr/bin/env python3
"""Check a Kaldi data dir (Kaldi's utils/validate_data_dir.sh); prints every problem, exits 1 if any.

Usage: validate_data_dir.py [--no-text] [--no-wav-check] <data-dir>
 e.g.: validate_data_dir.py data/train
"""

import argparse
import sys

from kaldi_kd.data.datadir import DataDir
from kaldi_kd.errors import run_main


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--no-text", action="store_true", help="do not require a text file")
    p.add_argument("--no-wav-check", action="store_true", help="do not check that wav files exist")
    p.add_argument("data_dir")
    a = p.parse_args()
    d = DataDir.load(a.data_dir).validate(check_wavs=not a.no_wav_check, require_text=not a.no_text)
    extra = " ".join(n for n in ("feats.scp", "cmvn.scp", "segments") if d.has(n))
    print(f"validate_data_dir.py: {a.data_dir}: OK ({len(d.utts)} utterances, {len(d.speakers)} speakers"
          + (f"; {extra}" if extra else "") + ")")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
