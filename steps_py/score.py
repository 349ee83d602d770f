#!/usr/bin/env python3
"""Score a decode dir's lattices with sclite over an LMWT x WIP sweep (score_kaldi.sh).

Usage: score.py [options] <data-dir> <lang-or-graph-dir> <decode-dir>
 e.g.: score.py --min-lmwt 7 --max-lmwt 17 data/test exp/tri1/graph exp/tri1/decode_test

Writes <decode-dir>/wer_LMWT_WIP (%WER lines), scoring_kaldi/best_wer,
scoring_kaldi/sclite/*.{sys,raw,dtl,pra}, scoring_kaldi/wer_details/{per_utt,per_spk,
wer_ci.json}.  Works on any Kaldi decode dir with lat.*.gz.
"""

import argparse
import logging
import sys

from kaldi_kd.errors import InputError, run_main
from kaldi_kd.score.score_dir import ScoringConfig, score_decode_dir


def main(argv=None) -> int:
    d = ScoringConfig()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--min-lmwt", type=int, default=d.min_lmwt, help="minimum LM weight")
    p.add_argument("--max-lmwt", type=int, default=d.max_lmwt, help="maximum LM weight")
    p.add_argument("--word-ins-penalty", default=",".join(str(w) for w in d.word_ins_penalties),
                   help="comma-separated word insertion penalties")
    p.add_argument("--replications", type=int, default=d.replications, help="bootstrap replications for the CI")
    p.add_argument("--ignore-words", default="", help="comma-separated words removed before scoring")
    p.add_argument("data_dir")
    p.add_argument("lang_dir", metavar="lang_or_graph_dir")
    p.add_argument("decode_dir")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        wips = tuple(float(w) for w in args.word_ins_penalty.split(",") if w)
    except ValueError:
        raise InputError(f"--word-ins-penalty: bad value {args.word_ins_penalty!r} (give numbers separated "
                         "by commas, e.g. 0.0,0.5,1.0)") from None
    cfg = ScoringConfig(args.min_lmwt, args.max_lmwt, wips, args.replications,
                        tuple(w for w in args.ignore_words.split(",") if w))
    s = score_decode_dir(args.data_dir, args.lang_dir, args.decode_dir, cfg)
    print(f"{s.best.kaldi_line()} (LMWT {s.best_lmwt}, WIP {s.best_wip}) "
          f"95% CI [{s.ci_low:.2f}, {s.ci_high:.2f}]")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
