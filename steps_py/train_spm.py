#!/usr/bin/env python3
"""Train the sentencepiece model of the subword unit level on the LM text.

Usage: steps_py/train_spm.py [options] <lm-text> <spm-dir>
 e.g.: steps_py/train_spm.py --vocab-size 100 data/lm/text data/lm/spm

Writes <spm-dir>/{spm.model,spm.vocab,spm.yaml} and <spm-dir>/log/train_spm.log.
The model has "<sil>" as a user-defined piece (the silence unit) and no BOS/EOS.
"""

import argparse
import dataclasses
import sys
from pathlib import Path

import yaml

from kaldi_kd.data.atomic import write_text_atomic
from kaldi_kd.errors import require_files, run_main
from kaldi_kd.units.spm import SpmConfig, load_spm, train_spm


def main() -> int:
    d = SpmConfig()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vocab-size", type=int, default=d.vocab_size)
    p.add_argument("--model-type", default=d.model_type, choices=["unigram", "bpe", "char", "word"])
    p.add_argument("--character-coverage", type=float, default=d.character_coverage)
    p.add_argument("--has-keys", action="store_true", help="lines start with an utterance id (Kaldi text)")
    p.add_argument("lm_text")
    p.add_argument("spm_dir")
    a = p.parse_args()
    require_files([a.lm_text], "run local/make_*_lm_text.py first")
    cfg = SpmConfig(vocab_size=a.vocab_size, model_type=a.model_type, character_coverage=a.character_coverage,
                    has_keys=a.has_keys)
    out = Path(a.spm_dir)
    (out / "log").mkdir(parents=True, exist_ok=True)
    model = train_spm(a.lm_text, out / "spm.model", cfg)
    write_text_atomic(out / "spm.yaml", yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=False))
    sp = load_spm(model)
    msg = f"{model}: {sp.get_piece_size()} pieces (asked {cfg.vocab_size}), <sil> = {sp.piece_to_id('<sil>')}\n"
    write_text_atomic(out / "log" / "train_spm.log", msg)
    print(msg, end="")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
