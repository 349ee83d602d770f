#!/usr/bin/env python3
"""Unit segments (senone / monophone / subword) of every utterance from GMM alignments.

Usage: steps_py/ali_to_units.py [options] <data-dir> <lang-dir> <ali-dir> <out-dir>
 e.g.: steps_py/ali_to_units.py --spm data/lm/spm/spm.model data/train data/lang exp/tri1_ali exp/tri1_ali/units

Reads <ali-dir>/{final.mdl,ali.*.gz} and <data-dir>/text; writes
<out-dir>/<level>/{units.txt,units.gz,ends.gz} per level and <out-dir>/log/ali_to_units.log.
The level "word" holds the aligned words themselves (units.txt: <sil> and the transcripts'
words), which a pretrained Hugging Face teacher tokenises with its own tokenizer.
Load them with kaldi_kd.units.io.load_unit_segments(<out-dir>, levels).
"""

import argparse
import logging
import sys
from pathlib import Path

from kaldi_kd.data.tables import read_int_vectors
from kaldi_kd.errors import KaldiKdError, MissingFileError, require_files, run_main
from kaldi_kd.units.from_alignments import alignment_segments, level_vocab, silence_rates
from kaldi_kd.units.io import write_segments
from kaldi_kd.gmm.lang import Lang


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--levels", default="senone,monophone,subword",
                   help="comma-separated unit levels; 'word' adds word spans (for hf:<dir> teachers)")
    p.add_argument("--spm", default="", help="sentencepiece model (needed for the subword level)")
    p.add_argument("data_dir")
    p.add_argument("lang_dir")
    p.add_argument("ali_dir")
    p.add_argument("out_dir")
    a = p.parse_args()
    levels = [lv for lv in a.levels.split(",") if lv]
    ali_dir, out = Path(a.ali_dir), Path(a.out_dir)
    alis = sorted(ali_dir.glob("ali.*.gz"), key=lambda x: int(x.name.split(".")[1]))
    need = [Path(a.data_dir) / "text", ali_dir / "final.mdl"] + ([Path(a.spm)] if "subword" in levels else [])
    if "subword" in levels and not a.spm:
        raise KaldiKdError("--spm: the subword level needs a sentencepiece model (pass --spm data/lm/spm/spm.model)")
    require_files(need, "is the previous stage done?")
    if not alis:
        raise MissingFileError(f"{ali_dir}/ali.*.gz", "run steps_py/align_si.py first")
    (out / "log").mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                        handlers=[logging.FileHandler(out / "log" / "ali_to_units.log", mode="w")])
    from kaldi_kd.gmm.model_io import read_transition_model
    from kaldi_kd.units.spm import load_spm

    lang = Lang(a.lang_dir)
    tm = read_transition_model(ali_dir / "final.mdl")
    sp = load_spm(a.spm) if "subword" in levels else None
    texts = {}
    for line in (Path(a.data_dir) / "text").read_text().splitlines():
        f = line.split()
        if f:
            texts[f[0]] = f[1:]
    items = (kv for path in alis for kv in read_int_vectors(str(path)))
    segs, failed = alignment_segments(items, texts, lang, tm, levels, sp)
    for lv in levels:
        write_segments(out / lv, segs[lv], level_vocab(lv, lang, tm, sp, texts).symbols)
        n = len(segs[lv])
        k = sum(len(s) for s in segs[lv].values())
        t = sum(s.num_frames for s in segs[lv].values())
        logging.info("%s: %d utterances, %d segments, %.2f frames/segment", lv, n, k, t / max(1, k))
        print(f"{lv}: {n} utterances, {k} segments, {t / max(1, k):.2f} frames/segment")
    rates = silence_rates((kv for path in alis for kv in read_int_vectors(str(path))), texts, lang, tm)
    msg = (f"silence in alignments: leading {rates['leading']:.2f}, trailing {rates['trailing']:.2f}, "
           f"inner {rates['inner']:.3f} per word boundary (make_unit_corpus.py --sil-prob "
           f"{rates['inner']:.2f} --edge-sil-prob {min(rates['leading'], rates['trailing']):.2f} matches them)")
    logging.info(msg)
    print(msg)
    if failed:
        logging.warning("%d utterances failed: %s", len(failed), " ".join(failed[:20]))
        print(f"ali_to_units.py: {len(failed)} utterances failed (see {out}/log/ali_to_units.log)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
