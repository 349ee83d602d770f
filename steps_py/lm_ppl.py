#!/usr/bin/env python3
"""What a trained teacher knows about unit sequences: perplexity, mean entropy of q,
mean probability of the true unit and top-1 agreement with it.

Usage: steps_py/lm_ppl.py [options] <lm-exp-dir> <units>
 e.g.: steps_py/lm_ppl.py exp/lm_senone exp/tri1_ali/units/senone
       steps_py/lm_ppl.py exp/lm_senone data/lm/senone/valid.txt.gz

<units> is a segments dir (units.txt, units.gz, ends.gz [, bounds.gz] from ali_to_units.py;
its units.txt must equal the teacher's) or a unit-corpus text file (its group codes, needed
by span-masked teachers, are read from the *.bounds.gz file beside it).  Appends the result
to <lm-exp-dir>/log/ppl.log, stores it under the <units> path in
<lm-exp-dir>/teacher_stats.json, and prints it.
"""

import argparse
import json
import sys
from pathlib import Path

import torch

from kaldi_kd.data.atomic import write_text_atomic
from kaldi_kd.errors import InputError, require_files, run_main
from kaldi_kd.lm.corpus import load_bounds, load_sequences, read_vocab
from kaldi_kd.lm.train import load_teacher, resolve_device, teacher_stats


def read_units(units: Path, vocab: list, need_bounds: bool):
    """(sequences, group codes or None) of a segments dir or a unit-corpus file."""
    if units.is_dir():
        from kaldi_kd.units.io import load_segments

        if read_vocab(units / "units.txt") != vocab:
            raise InputError(f"{units}/units.txt: differs from the teacher's units.txt (teacher and units come "
                             "from another tree, lang or spm model; rebuild one of them)")
        segs = [s for _, s in sorted(load_segments(units).items())]
        if need_bounds and any(s.bounds is None for s in segs):
            raise InputError(f"{units}: no bounds.gz, which this span-masked teacher needs "
                             "(rerun steps_py/ali_to_units.py)")
        return [s.units for s in segs], ([s.bounds for s in segs] if need_bounds else None)
    seqs = load_sequences(units, len(vocab))
    if not need_bounds:
        return seqs, None
    name = units.name.split(".")[0]
    return seqs, load_bounds(units.with_name(f"{name}.bounds.gz"), seqs)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto")
    p.add_argument("--max-seqs", type=int, default=0, help="score at most this many sequences (0 = all)")
    p.add_argument("--tau", type=float, default=1.0, help="temperature of q (as the AM's soft targets use)")
    p.add_argument("lm_exp_dir")
    p.add_argument("units")
    a = p.parse_args()
    exp, units = Path(a.lm_exp_dir), Path(a.units)
    require_files([exp / "teacher.pt", exp / "units.txt", units], "run steps_py/train_lm.py first")
    vocab = read_vocab(exp / "units.txt")
    device = resolve_device(a.device)
    torch.set_num_threads(1)
    teacher = load_teacher(exp, device)
    seqs, bounds = read_units(units, vocab, teacher.span != "none")
    if a.max_seqs:
        seqs, bounds = seqs[: a.max_seqs], (None if bounds is None else bounds[: a.max_seqs])
    st = teacher_stats(teacher, seqs, device, bounds=bounds, tau=a.tau)
    msg = f"{units}: {st.line()} ({len(seqs)} sequences, vocab {len(vocab)}, span {teacher.span}, tau {a.tau:g})"
    (exp / "log").mkdir(exist_ok=True)
    with open(exp / "log" / "ppl.log", "a") as f:
        f.write(msg + "\n")
    stats_file = exp / "teacher_stats.json"
    table = json.loads(stats_file.read_text()) if stats_file.exists() else {}
    table[str(units)] = {"ppl": st.ppl, "entropy": st.entropy, "p_true": st.p_true, "top1": st.top1,
                         "units": st.units, "sequences": len(seqs), "tau": a.tau, "span": teacher.span}
    write_text_atomic(stats_file, json.dumps(table, indent=1, sort_keys=True) + "\n")
    print(msg)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
