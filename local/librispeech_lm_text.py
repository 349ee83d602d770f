#!/usr/bin/env python3
"""Teacher LM text from LibriSpeech's LM corpus (openslr 11, librispeech-lm-norm.txt.gz), streamed.

Usage: librispeech_lm_text.py [options] <lm-corpus> <out-text>
 e.g.: librispeech_lm_text.py --lm-text-words 50000000 --stride 10 \\
           db/librispeech-lm-norm.txt.gz data/local/lm/lm_text.txt.gz

Keeps every --stride-th line until --lm-text-words words (0 = all 800M); upper-case words
as in the LibriSpeech lexicon.  Log: <out-text dir>/log/lm_text.log.
"""

import argparse
import logging
import sys
from pathlib import Path

from kaldi_kd.corpus.librispeech import LibriSpeechError, subsample_lm_text
from kaldi_kd.errors import run_main


def main() -> int:
    p = argparse.ArgumentParser(
        usage="%(prog)s [options] <lm-corpus> <out-text>\n"
              " e.g.: %(prog)s --lm-text-words 50000000 db/librispeech-lm-norm.txt.gz data/local/lm/lm_text.txt.gz",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # options (defaults in one block)
    p.add_argument("--lm-text-words", type=int, default=0, help="stop after this many words (0 = no cap)")
    p.add_argument("--stride", type=int, default=1, help="keep every N-th line")
    p.add_argument("lm_corpus")
    p.add_argument("out_text")
    a = p.parse_args()
    log_dir = Path(a.out_text).parent / "log"
    log_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        handlers=[logging.FileHandler(log_dir / "lm_text.log", mode="w"), logging.StreamHandler()])
    try:
        subsample_lm_text(a.lm_corpus, a.out_text, a.lm_text_words, a.stride)
    except (LibriSpeechError, ValueError) as err:
        logging.error("%s", err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
