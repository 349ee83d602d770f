#!/usr/bin/env python3
"""Synthesise the tiny digits corpus and write Kaldi data dirs <data-root>/{train,test}.

Usage: make_digits_corpus.py [options] <db-dir> <data-root>
 e.g.: make_digits_corpus.py --seed 1 --num-train 100 --num-test 30 db/digits data

Deterministic from --seed; resumable (existing wavs are kept).  Needs flite, espeak-ng, sox.
"""

import argparse
import logging
import sys

from kaldi_kd.corpus.digits import DigitsConfig, make_digits_corpus
from kaldi_kd.corpus.tts import TTSError
from kaldi_kd.data.datadir import DataDirError
from kaldi_kd.errors import run_main


def main() -> int:
    d = DigitsConfig()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--num-train", type=int, default=d.num_train)
    p.add_argument("--num-test", type=int, default=d.num_test)
    p.add_argument("--train-voices", default=",".join(d.train_voices), help="engine:voice list")
    p.add_argument("--test-voices", default=",".join(d.test_voices), help="engine:voice list")
    p.add_argument("--nj", type=int, default=0, help="parallel synthesis workers (0 = nproc)")
    p.add_argument("db_dir")
    p.add_argument("data_root")
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s make_digits_corpus: %(message)s")
    cfg = DigitsConfig(seed=a.seed, num_train=a.num_train, num_test=a.num_test,
                       train_voices=tuple(a.train_voices.split(",")),
                       test_voices=tuple(a.test_voices.split(",")), num_workers=a.nj)
    try:
        counts = make_digits_corpus(a.db_dir, a.data_root, cfg)
    except (TTSError, DataDirError, ValueError) as err:
        print(f"make_digits_corpus.py: error: {err}", file=sys.stderr)
        return 1
    for name, n in counts.items():
        logging.info("%s/%s: %d utterances", a.data_root, name, n)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
