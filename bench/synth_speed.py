#!/usr/bin/env python3
"""Synthesis speed per voice (seconds of audio per wall second, one process) and the
projected wall time of the synth corpus' training set; writes bench/out/synth_speed.json.

Usage: bench/synth_speed.py [--utts N] [--hours H] [--workers W]
 e.g.: PYTHONPATH=. bench/synth_speed.py --utts 6
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

from kaldi_kd.corpus.lm_sources import SourceConfig, SourceUnavailable, harvard_sentences
from kaldi_kd.corpus.normalize import normalize_sentence
from kaldi_kd.corpus.synth_corpus import SynthCorpusConfig, festival_voices
from kaldi_kd.corpus.tts import Perturb, TTSError, Voice, missing_tools, synthesize

FALLBACK = ["the birch canoe slid on the smooth planks", "glue the sheet to the dark blue background",
            "it's easy to tell the depth of a well", "these days a chicken leg is a rare dish"]


def voice_speed(voice: Voice, texts, out: Path) -> dict:
    audio, start = 0.0, time.time()
    for i, t in enumerate(texts):
        audio += synthesize(voice, t, out / f"{voice.tag}_{i}.wav", Perturb(speed=1.1, pitch=100.0, snr_db=30.0))
    wall = time.time() - start
    return {"audio_s": round(audio, 2), "wall_s": round(wall, 2), "x_realtime": round(audio / wall, 1)}


def main() -> None:
    p = argparse.ArgumentParser(usage=__doc__.split("\n\n")[1])
    p.add_argument("--utts", type=int, default=6)
    p.add_argument("--hours", type=float, default=SynthCorpusConfig().train_hours)
    p.add_argument("--workers", type=int, default=2)
    a = p.parse_args()
    cfg = SynthCorpusConfig()
    try:
        texts = [normalize_sentence(s).lower() for s in harvard_sentences(SourceConfig())[: a.utts]]
    except SourceUnavailable:
        texts = (FALLBACK * a.utts)[: a.utts]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for spec in cfg.train_voices + cfg.dev_voices + cfg.test_voices:
            v = Voice.parse(spec)
            if missing_tools([v]) or (v.engine == "festival" and v.name not in festival_voices()):
                results[spec] = {"skipped": "not installed"}
                continue
            try:
                results[spec] = voice_speed(v, texts, Path(tmp))
            except TTSError as err:
                results[spec] = {"skipped": str(err)}
            print(spec, results[spec], flush=True)
    # training set: voices share utterances equally; W parallel workers
    rt = [results[v]["x_realtime"] for v in cfg.train_voices if "x_realtime" in results[v]]
    one_core = sum(a.hours * 3600 / len(rt) / r for r in rt)
    summary = {"voices": results, "train_hours": a.hours, "workers": a.workers,
               "projected_train_wall_s_one_worker": round(one_core),
               "projected_train_wall_s": round(one_core / a.workers)}
    out = Path(__file__).parent / "out" / "synth_speed.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(summary, indent=1) + "\n")
    print(f"projected {a.hours} h training set: {one_core / 60:.1f} min on 1 worker, "
          f"{one_core / a.workers / 60:.1f} min on {a.workers}; wrote {out}")


if __name__ == "__main__":
    main()
