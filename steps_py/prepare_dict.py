#!/usr/bin/env python3
"""Make a Kaldi dict dir (lexicon from CMUdict, flite letter-to-sound for the rest).

Usage: steps_py/prepare_dict.py [options] <word-list-or-text-file>... <dict-dir>
e.g.:  steps_py/prepare_dict.py --oov '<UNK>' data/train/text data/local/dict
"""

import argparse
import logging
import sys
from pathlib import Path

from kaldi_kd.gmm.lexicon import LexiconError, prepare_dict, read_words
from kaldi_kd.gmm.stage import LEVEL_NAME_FORMAT, setup_logging


def main() -> int:
    p = argparse.ArgumentParser(
        usage="%(prog)s [options] <word-list-or-text-file>... <dict-dir>\n       e.g.:  steps_py/prepare_dict.py --oov '<UNK>' data/train/text data/local/dict",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # options (defaults in one block)
    p.add_argument("--oov", default="<UNK>", help="OOV word, pronounced SPN (default %(default)s)")
    p.add_argument("--has-ids", choices=["auto", "true", "false"], default="auto",
                   help="first field of each line is an utterance id; auto = for files named 'text'")
    p.add_argument("inputs", nargs="+", help="word lists or Kaldi text files")
    p.add_argument("dict_dir", help="output dict dir")
    args = p.parse_args()

    out = Path(args.dict_dir)
    setup_logging(out / "log" / "prepare_dict.log", "prepare_dict", LEVEL_NAME_FORMAT)
    has_ids = None if args.has_ids == "auto" else args.has_ids == "true"
    try:
        words = read_words(args.inputs, has_ids)
        stats = prepare_dict(words, out, args.oov)
    except LexiconError as e:
        logging.error("%s", e)
        return 1
    if stats.failed_words:
        logging.warning("left out (no pronunciation): %s", " ".join(stats.failed_words))
    return 0


if __name__ == "__main__":
    sys.exit(main())
