#!/usr/bin/env python3
"""Train a teacher LM (causal | masked | bidir) on a unit corpus.

Usage: steps_py/train_lm.py [options] <unit-corpus-dir> <exp-dir>
 e.g.: steps_py/train_lm.py --config conf/lm_senone.yaml data/lm/senone exp/lm_senone

<unit-corpus-dir> holds units.txt, train.txt.gz, valid.txt.gz (steps_py/make_unit_corpus.py).
Writes <exp-dir>/{config.yaml,units.txt,teacher.pt,ppl,ckpt/last.pt,log/train.log}.
"""

import argparse
import sys

from kaldi_kd.errors import require_files, run_main
from kaldi_kd.lm.train import LMConfig, train_lm


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # options (defaults: kaldi_kd.lm.train.LMConfig)
    p.add_argument("--config", default=None, help="YAML with LMConfig fields")
    p.add_argument("--kind", default=None, choices=["causal", "masked", "bidir"], help="overrides config")
    p.add_argument("--span", default=None, choices=["none", "phone", "word"],
                   help="overrides config: hide the predicted unit's whole phone / word")
    p.add_argument("--max-steps", type=int, default=None, help="overrides config")
    p.add_argument("--patience", type=int, default=None, help="overrides config (early stopping; 0 = off)")
    p.add_argument("--device", default=None, help="overrides config (auto|cpu|cuda)")
    p.add_argument("--num-threads", type=int, default=None, help="overrides config (torch CPU threads)")
    p.add_argument("--resume", action="store_true", help="continue from <exp-dir>/ckpt/last.pt")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    p.add_argument("corpus_dir")
    p.add_argument("exp_dir")
    a = p.parse_args()
    overrides = dict(kind=a.kind, span=a.span, max_steps=a.max_steps, patience=a.patience, device=a.device, num_threads=a.num_threads)
    if a.config:
        require_files([a.config])
        cfg = LMConfig.from_yaml(a.config, **overrides)
    else:
        cfg = LMConfig.from_dict({}, **overrides)
    ppl = train_lm(a.corpus_dir, a.exp_dir, cfg, resume=a.resume, progress=not a.no_progress)
    print(f"{a.exp_dir}: valid_ppl {ppl:.3f}")


if __name__ == "__main__":
    sys.exit(run_main(main))
