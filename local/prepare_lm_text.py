#!/usr/bin/env python3
"""Build LM text from offline public-domain sources (Debian and npm packages).

Writes <out-dir>/lm_text.txt.gz (one normalised uppercase sentence per line, deduplicated),
<out-dir>/sources/<name>.txt.gz (cached per source; a rerun reuses them), word_counts.json,
config.yaml and log/prepare_lm_text.log. Idempotent and resumable.
"""

import argparse
import logging
import sys
from pathlib import Path

from kaldi_kd.corpus.lm_sources import SourceConfig
from kaldi_kd.corpus.lm_text import LMTextConfig, build_lm_text
from kaldi_kd.errors import run_main


def main() -> int:
    defaults = LMTextConfig()
    p = argparse.ArgumentParser(
        usage="%(prog)s [options] <out-dir>\n e.g.: %(prog)s data/local/lm",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sources", default=",".join(defaults.sources), help="comma-separated source names")
    p.add_argument("--min-words", type=int, default=defaults.min_words)
    p.add_argument("--max-words", type=int, default=defaults.max_words)
    p.add_argument("--exclude", default="", help="file of sentences to keep out (e.g. test prompts)")
    p.add_argument("--npm-prefix", default=defaults.source.npm_prefix)
    p.add_argument("--no-install-npm", action="store_true", help="never run npm install")
    p.add_argument("out_dir")
    args = p.parse_args()

    out = Path(args.out_dir)
    (out / "log").mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                        handlers=[logging.FileHandler(out / "log" / "prepare_lm_text.log"),
                                  logging.StreamHandler(sys.stderr)])
    if args.exclude and not Path(args.exclude).is_file():
        p.error(f"expected file {args.exclude} to exist")
    cfg = LMTextConfig(sources=args.sources.split(","), min_words=args.min_words,
                       max_words=args.max_words,
                       source=SourceConfig(npm_prefix=args.npm_prefix,
                                           install_npm=not args.no_install_npm))
    counts = build_lm_text(out, cfg, args.exclude or None)
    return 0 if counts["total"]["kept_words"] > 0 else 1


if __name__ == "__main__":
    sys.exit(run_main(main))
