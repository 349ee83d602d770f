#!/usr/bin/env python3
"""Train a Kneser-Ney n-gram on LM text and make lang_test = lang + G.fst (Kaldi's format_lm.sh).

Usage: steps_py/make_G.py [options] <lm-text> [<lm-text>...] <lang-dir> <lang-test-dir>
e.g.:  steps_py/make_G.py --order 3 data/train/text data/lang data/lang_test
With --arpa FILE(.gz) no LM is trained: the given ARPA becomes G.fst (Kaldi's
format_lm.sh; give no <lm-text>).  Files named 'text' are Kaldi transcripts (first field = utterance id); others are
plain sentences.  Words not in <lang-dir>/words.txt become the OOV word (oov.txt).
"""

import argparse
import sys
from pathlib import Path

from kaldi_kd.errors import require_files, run_main
from kaldi_kd.gmm.ngram import NgramConfig, make_lang_test, make_lang_test_from_arpa
from kaldi_kd.gmm.stage import LEVEL_NAME_FORMAT, setup_logging


def main() -> int:
    d = NgramConfig()
    p = argparse.ArgumentParser(
        usage='%(prog)s [options] [--arpa <lm.arpa>] <lm-text>... <lang-dir> <lang-test-dir>\n       e.g.:  steps_py/make_G.py --order 3 data/train/text data/lang data/lang_test',
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # options (defaults in one block: NgramConfig)
    p.add_argument("--order", type=int, default=d.order, choices=[1, 2, 3, 4, 5])
    p.add_argument("--has-ids", choices=["auto", "true", "false"], default="auto",
                   help="first field of each LM text line is an utterance id; auto = files named 'text'")
    p.add_argument("--check-lg", choices=["true", "false"], default="true" if d.check_lg else "false",
                   help="check that det(L_disambig o G) terminates")
    p.add_argument("--arpa", default="", help="use this ARPA LM (.gz ok) instead of training one")
    p.add_argument("lm_text", nargs="*")
    p.add_argument("lang_dir")
    p.add_argument("lang_test_dir")
    args = p.parse_args()

    out = Path(args.lang_test_dir)
    setup_logging(out / "log" / "make_G.log", "make_G", LEVEL_NAME_FORMAT)
    require_files([Path(args.lang_dir) / f for f in ("words.txt", "oov.txt", "L_disambig.fst")],
                  "run steps_py/prepare_lang.py first")
    cfg = NgramConfig(order=args.order, check_lg=args.check_lg == "true",
                      text_has_ids=None if args.has_ids == "auto" else args.has_ids == "true")
    if bool(args.arpa) == bool(args.lm_text):
        p.error("give <lm-text> files or --arpa (exactly one of them)")
    if args.arpa:
        make_lang_test_from_arpa(args.arpa, args.lang_dir, out, cfg.check_lg)
    else:
        make_lang_test(args.lm_text, args.lang_dir, out, cfg)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
