#!/usr/bin/env python3
"""LM text for the digits teachers: random digit-word strings, one per line (text only).

Usage: local/make_digits_lm_text.py [options] <out-text>
 e.g.: local/make_digits_lm_text.py --num 5000 --seed 7 data/lm/text

Uses a seed different from the audio corpus's so the LM text is not the transcripts.
"""

import argparse
import random
import sys

from kaldi_kd.corpus.digits import digit_string
from kaldi_kd.data.atomic import write_text_atomic
from kaldi_kd.errors import run_main


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--num", type=int, default=5000, help="number of lines")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--min-digits", type=int, default=1)
    p.add_argument("--max-digits", type=int, default=7)
    p.add_argument("out_text")
    a = p.parse_args()
    rng = random.Random(a.seed)
    lines = [digit_string(rng, a.min_digits, a.max_digits) for _ in range(a.num)]
    write_text_atomic(a.out_text, "\n".join(lines) + "\n")
    print(f"{a.out_text}: {a.num} lines")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
