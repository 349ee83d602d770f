#!/usr/bin/env python3
"""Synthesise the medium read-speech corpus; write data dirs <data-root>/{train,dev,test},
<data-root>/local/{excluded_sentences.txt,vocab.txt} and remove dev/test prompts from the LM text.

Prompts: Harvard sentences + 5-20 word sentences of <lm-dir>/sources (run prepare_lm_text.py
first). Dev and test voices are never heard in training. Deterministic from --seed;
resumable (existing wavs are kept). Needs flite, espeak-ng, festival (+ voices), sox.
"""

import argparse
import logging
import sys
from pathlib import Path

from kaldi_kd.corpus.synth_corpus import SynthCorpusConfig, make_synth_corpus
from kaldi_kd.corpus.tts import TTSError
from kaldi_kd.data.datadir import DataDirError
from kaldi_kd.errors import run_main


def main() -> int:
    d = SynthCorpusConfig()
    p = argparse.ArgumentParser(
        usage="%(prog)s [options] <lm-dir> <db-dir> <data-root>\n"
              " e.g.: %(prog)s --hours 5 data/local/lm db/synth data",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--hours", type=float, default=d.train_hours, help="training audio (hours)")
    p.add_argument("--dev-hours", type=float, default=d.dev_hours)
    p.add_argument("--test-hours", type=float, default=d.test_hours)
    p.add_argument("--train-voices", default=",".join(d.train_voices), help="engine:voice list")
    p.add_argument("--dev-voices", default=",".join(d.dev_voices))
    p.add_argument("--test-voices", default=",".join(d.test_voices))
    p.add_argument("--vocab-size", type=int, default=d.vocab_size, help="top-N LM-text words in vocab.txt")
    p.add_argument("--nj", type=int, default=d.num_workers, help="parallel synthesis workers (0 = nproc)")
    p.add_argument("lm_dir")
    p.add_argument("db_dir")
    p.add_argument("data_root")
    a = p.parse_args()
    if not (Path(a.lm_dir) / "config.yaml").is_file():
        p.error(f"expected file {Path(a.lm_dir) / 'config.yaml'} to exist (run local/prepare_lm_text.py)")
    log_dir = Path(a.data_root) / "local" / "log"
    log_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s make_synth_corpus: %(message)s",
                        handlers=[logging.FileHandler(log_dir / "make_synth_corpus.log"),
                                  logging.StreamHandler(sys.stderr)])
    cfg = SynthCorpusConfig(seed=a.seed, train_hours=a.hours, dev_hours=a.dev_hours,
                            test_hours=a.test_hours, train_voices=a.train_voices.split(","),
                            dev_voices=a.dev_voices.split(","), test_voices=a.test_voices.split(","),
                            vocab_size=a.vocab_size, num_workers=a.nj)
    cfg.prompts.seed = a.seed
    try:
        make_synth_corpus(a.db_dir, a.data_root, a.lm_dir, cfg)
    except (TTSError, DataDirError, ValueError, FileNotFoundError) as err:
        print(f"make_synth_corpus.py: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
