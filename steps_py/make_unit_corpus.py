#!/usr/bin/env python3
"""Unit corpus (senone | monophone | subword ids per line) from LM text, for teacher training.

Usage: steps_py/make_unit_corpus.py [options] --level <level> <lm-text> <lang-dir> <model-dir> <out-dir>
 e.g.: steps_py/make_unit_corpus.py --level senone data/lm/text data/lang exp/tri1 data/lm/senone

Words → phones (lang's phones/align_lexicon.int) with sampled optional silence →
senones (<model-dir>/{final.mdl,tree}), monophones, or subwords (--spm).  Streams the
text.  Writes <out-dir>/{units.txt,train.txt.gz,valid.txt.gz,conf.yaml,log/make_unit_corpus.log}.
<model-dir> is only read for --level senone (pass any dir otherwise).
"""

import argparse
import dataclasses
import logging
import sys
from pathlib import Path

import yaml

from kaldi_kd.data.atomic import write_text_atomic
from kaldi_kd.errors import KaldiKdError, require_files, run_main
from kaldi_kd.gmm.lang import Lang
from kaldi_kd.units.text import TextToUnits, TextUnitsConfig, write_unit_corpus


def main() -> int:
    d = TextUnitsConfig()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--level", required=True, choices=["senone", "monophone", "subword"])
    p.add_argument("--spm", default="", help="sentencepiece model (subword level)")
    p.add_argument("--sil-prob", type=float, default=d.sil_prob, help="optional silence after a word")
    p.add_argument("--edge-sil-prob", type=float, default=d.edge_sil_prob, help="leading/trailing silence")
    p.add_argument("--pron-index", type=int, default=d.pron_index, help="which pronunciation (0 = first)")
    p.add_argument("--oov", default=d.oov, help="word for words missing from the lexicon")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--has-keys", action="store_true", help="lines start with an utterance id")
    p.add_argument("--valid-every", type=int, default=20, help="every N-th line goes to valid.txt.gz")
    p.add_argument("lm_text")
    p.add_argument("lang_dir")
    p.add_argument("model_dir")
    p.add_argument("out_dir")
    a = p.parse_args()
    need = [Path(a.lm_text)]
    if a.level == "senone":
        need += [Path(a.model_dir) / "final.mdl", Path(a.model_dir) / "tree"]
    if a.level == "subword":
        if not a.spm:
            raise KaldiKdError("--spm: the subword level needs a sentencepiece model (pass --spm data/lm/spm/spm.model)")
        need.append(Path(a.spm))
    require_files(need, "is the previous stage done?")
    cfg = TextUnitsConfig(sil_prob=a.sil_prob, edge_sil_prob=a.edge_sil_prob, pron_index=a.pron_index,
                          oov=a.oov, seed=a.seed, has_keys=a.has_keys)
    out = Path(a.out_dir)
    (out / "log").mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                        handlers=[logging.FileHandler(out / "log" / "make_unit_corpus.log", mode="w")])
    lang = Lang(a.lang_dir)
    tm = ctx = sp = None
    if a.level == "senone":
        from kaldi_kd.gmm.model_io import read_transition_model, read_tree

        tm, ctx = read_transition_model(Path(a.model_dir) / "final.mdl"), read_tree(Path(a.model_dir) / "tree")
    if a.level == "subword":
        from kaldi_kd.units.spm import load_spm

        sp = load_spm(a.spm)
    conv = TextToUnits(a.level, lang, cfg, trans_model=tm, ctx_dep=ctx, sp=sp)
    n_tr, n_va = write_unit_corpus(a.lm_text, out, conv, a.valid_every, progress=sys.stderr.isatty())
    conf = {"level": a.level, "lm_text": a.lm_text, "spm": a.spm, "valid_every": a.valid_every,
            **dataclasses.asdict(cfg)}
    write_text_atomic(out / "conf.yaml", yaml.safe_dump(conf, sort_keys=False))
    msg = f"{a.level}: {n_tr} train + {n_va} valid sequences, vocab {len(conv.vocab)}"
    logging.info(msg)
    print(f"{out}: {msg}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
