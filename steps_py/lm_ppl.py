#!/usr/bin/env python3
"""Perplexity of a trained teacher on unit sequences: a unit-corpus file or a segments dir.

Usage: steps_py/lm_ppl.py [options] <lm-exp-dir> <units>
 e.g.: steps_py/lm_ppl.py exp/lm_senone exp/tri1_ali/units/senone
       steps_py/lm_ppl.py exp/lm_senone data/lm/senone/valid.txt.gz

<units> is a segments dir (units.txt, units.gz, ends.gz from ali_to_units.py; its units.txt
must equal the teacher's) or a unit-corpus text file.  Appends the result to
<lm-exp-dir>/log/ppl.log and prints it.
"""

import argparse
import sys
from pathlib import Path

import torch

from kaldi_kd.errors import InputError, require_files, run_main
from kaldi_kd.lm.corpus import load_sequences, read_vocab
from kaldi_kd.lm.train import load_teacher, perplexity, resolve_device


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto")
    p.add_argument("--max-seqs", type=int, default=0, help="score at most this many sequences (0 = all)")
    p.add_argument("lm_exp_dir")
    p.add_argument("units")
    a = p.parse_args()
    exp, units = Path(a.lm_exp_dir), Path(a.units)
    require_files([exp / "teacher.pt", exp / "units.txt", units], "run steps_py/train_lm.py first")
    vocab = read_vocab(exp / "units.txt")
    if units.is_dir():
        from kaldi_kd.units.io import load_segments

        if read_vocab(units / "units.txt") != vocab:
            raise InputError(f"{units}/units.txt: differs from {exp}/units.txt (teacher and units come from "
                             "another tree, lang or spm model; rebuild one of them)")
        seqs = [s.units for _, s in sorted(load_segments(units).items())]
    else:
        seqs = load_sequences(units, len(vocab))
    if a.max_seqs:
        seqs = seqs[: a.max_seqs]
    device = resolve_device(a.device)
    torch.set_num_threads(1)
    ppl, n = perplexity(load_teacher(exp, device), seqs, device)
    msg = f"{units}: ppl {ppl:.4f} over {n} units ({len(seqs)} sequences, vocab {len(vocab)})"
    (exp / "log").mkdir(exist_ok=True)
    with open(exp / "log" / "ppl.log", "a") as f:
        f.write(msg + "\n")
    print(msg)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
