#!/usr/bin/env python3
"""Make a Kaldi dict dir (lexicon from CMUdict, flite letter-to-sound for the rest).

Usage: steps_py/prepare_dict.py [options] <word-list-or-text-file>... <dict-dir>
e.g.:  steps_py/prepare_dict.py --oov '<UNK>' data/train/text data/local/dict
       steps_py/prepare_dict.py --lexicon db/librispeech-lexicon.txt data/train/text data/local/dict

With --lexicon the given lexicon is used whole (kaldi_kd.gmm.lexicon_file); words of the
inputs it lacks get flite letter-to-sound pronunciations.
"""

import argparse
import logging
import sys
from pathlib import Path

from kaldi_kd.errors import run_main
from kaldi_kd.gmm.lexicon import prepare_dict, read_words
from kaldi_kd.gmm.lexicon_file import prepare_dict_from_lexicon
from kaldi_kd.gmm.stage import LEVEL_NAME_FORMAT, setup_logging


def main() -> int:
    p = argparse.ArgumentParser(
        usage="%(prog)s [options] <word-list-or-text-file>... <dict-dir>\n       e.g.:  steps_py/prepare_dict.py --oov '<UNK>' data/train/text data/local/dict",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # options (defaults in one block)
    p.add_argument("--oov", default="<UNK>", help="OOV word, pronounced SPN (default %(default)s)")
    p.add_argument("--has-ids", choices=["auto", "true", "false"], default="auto",
                   help="first field of each line is an utterance id; auto = for files named 'text'")
    p.add_argument("--lexicon", default="", help="existing lexicon (WORD P1 P2 ...; .gz ok) instead of CMUdict")
    p.add_argument("--strip-stress", choices=["true", "false"], default="false",
                   help="with --lexicon: remove stress digits from its phones")
    p.add_argument("inputs", nargs="*", help="word lists or Kaldi text files")
    p.add_argument("dict_dir", help="output dict dir")
    args = p.parse_args()

    out = Path(args.dict_dir)
    setup_logging(out / "log" / "prepare_dict.log", "prepare_dict", LEVEL_NAME_FORMAT)
    has_ids = None if args.has_ids == "auto" else args.has_ids == "true"
    words = read_words(args.inputs, has_ids)
    if args.lexicon:
        stats = prepare_dict_from_lexicon(args.lexicon, out, args.oov, words,
                                          strip_stress=args.strip_stress == "true")
    elif not words:
        p.error("give word lists or text files (or --lexicon)")
    else:
        stats = prepare_dict(words, out, args.oov)
    if stats.failed_words:
        logging.warning("left out (no pronunciation): %s", " ".join(stats.failed_words))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
