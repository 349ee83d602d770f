#!/usr/bin/env python3
"""Make a Kaldi lang dir from a dict dir (Kaldi's utils/prepare_lang.sh).

Usage: steps_py/prepare_lang.py [options] <dict-dir> <oov-word> <lang-dir>
e.g.:  steps_py/prepare_lang.py data/local/dict '<UNK>' data/lang
"""

import argparse
import sys
from pathlib import Path

from kaldi_kd.errors import require_files, run_main
from kaldi_kd.gmm.lang import LangConfig, prepare_lang
from kaldi_kd.gmm.stage import LEVEL_NAME_FORMAT, setup_logging


def str2bool(s: str) -> bool:
    if s not in ("true", "false"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {s!r}")
    return s == "true"


def main() -> int:
    d = LangConfig()
    p = argparse.ArgumentParser(
        usage="%(prog)s [options] <dict-dir> <oov-word> <lang-dir>\n       e.g.:  steps_py/prepare_lang.py data/local/dict '<UNK>' data/lang",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # options (defaults in one block: LangConfig)
    p.add_argument("--position-dependent-phones", type=str2bool, default=d.position_dependent_phones,
                   help="word-position-dependent phones _B/_E/_I/_S (true|false)")
    p.add_argument("--sil-prob", type=float, default=d.sil_prob, help="optional silence probability")
    p.add_argument("--num-sil-states", type=int, default=d.num_sil_states)
    p.add_argument("--num-nonsil-states", type=int, default=d.num_nonsil_states)
    p.add_argument("dict_dir")
    p.add_argument("oov_word")
    p.add_argument("lang_dir")
    args = p.parse_args()

    lang = Path(args.lang_dir)
    setup_logging(lang / "log" / "prepare_lang.log", "prepare_lang", LEVEL_NAME_FORMAT)
    cfg = LangConfig(position_dependent_phones=args.position_dependent_phones, sil_prob=args.sil_prob,
                     num_sil_states=args.num_sil_states, num_nonsil_states=args.num_nonsil_states)
    require_files([Path(args.dict_dir) / f for f in ("silence_phones.txt", "nonsilence_phones.txt",
                                                      "optional_silence.txt")], "run steps_py/prepare_dict.py first")
    prepare_lang(args.dict_dir, args.oov_word, lang, cfg)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
