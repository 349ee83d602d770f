#!/usr/bin/env python3
"""Check an existing Kaldi experiment before the AM stage ("bring your own Kaldi experiment").

Usage: byo_check.py [options] <data-dir> <ali-dir> <lang-dir> <graph-dir>
 e.g.: byo_check.py data/train_clean_100 exp/tri4b_ali_clean_100 data/lang exp/tri4b/graph_tgsmall

Exits 1 with every mismatch listed (tree vs model pdfs and context, alignments for
utterances not in <data-dir>, alignment lengths vs feature frames, feature dimension vs
the GMM or --feat-dim, phones.txt/words.txt of lang vs graph); see kaldi_kd.gmm.exp_check.
Writes <ali-dir>/log/byo_check.log (or --log-dir) on success and failure.
"""

import argparse
import logging
import sys
from pathlib import Path

from kaldi_kd.errors import run_main
from kaldi_kd.gmm.exp_check import check_kaldi_exp


def main() -> int:
    p = argparse.ArgumentParser(
        usage="%(prog)s [options] <data-dir> <ali-dir> <lang-dir> <graph-dir>\n"
              " e.g.: %(prog)s data/train_clean_100 exp/tri4b_ali_clean_100 data/lang exp/tri4b/graph_tgsmall",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # options (defaults in one block)
    p.add_argument("--feat-dim", type=int, default=None, help="feature dimension the AM config expects")
    p.add_argument("--gmm-feats", choices=["true", "false"], default="true",
                   help="<data-dir> holds the GMM's features (check their dimension against final.mdl)")
    p.add_argument("--log-dir", default=None, help="default: <ali-dir>/log")
    p.add_argument("data_dir")
    p.add_argument("ali_dir")
    p.add_argument("lang_dir")
    p.add_argument("graph_dir")
    a = p.parse_args()
    log_dir = Path(a.log_dir or Path(a.ali_dir) / "log")
    handlers = [logging.StreamHandler()]
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_dir / "byo_check.log", mode="w"))
    except OSError:
        pass  # a read-only ali dir: log to stderr only
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        handlers=handlers)
    check_kaldi_exp(a.data_dir, a.ali_dir, a.lang_dir, a.graph_dir, a.feat_dim, a.gmm_feats == "true")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
