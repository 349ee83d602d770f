#!/usr/bin/env python3
"""Our side of the Kaldi golden files: a tiny experiment written by kaldi-kd, for Kaldi to read.

Usage: make_ours.py <work-dir>        (run by make_golden.sh with PYTHONPATH=<repo>:<repo>/tests)

Writes <work-dir>/run with Kaldi's directory names (data/train with synthetic 13-dim
features and CMVN, data/lang, data/lang_test_tgsmall, exp/mono, exp/mono_ali with
ali.*.gz, exp/mono/graph_tgsmall with a const HCLG.fst), our GMM decoding of
data/train into exp/mono/decode_ours/lat.*.gz, and <work-dir>/tone.wav (0.5 s, 16 kHz,
a seeded mixture of tones and noise) for the feature comparison.
"""

from __future__ import annotations

import subprocess
import sys
import wave
from pathlib import Path

import numpy as np

from test_byo import build_kaldi_like_run  # noqa: E402  (tests/ on PYTHONPATH)

ROOT = Path(__file__).resolve().parents[3]


def write_tone(path: Path, seconds: float = 0.5, rate: int = 16000) -> None:
    """A deterministic 16-bit mono wav: three tones and a little noise."""
    rng = np.random.default_rng(13)
    t = np.arange(int(seconds * rate)) / rate
    x = sum(np.sin(2 * np.pi * f * t) * a for f, a in ((220.0, 0.3), (1250.0, 0.2), (3100.0, 0.1)))
    x = x + rng.normal(scale=0.02, size=t.shape)
    pcm = np.clip(x * 16000, -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


def main(work: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    run = build_kaldi_like_run(work)
    subprocess.run([sys.executable, str(ROOT / "steps_py" / "decode_gmm.py"), "--nj", "1",
                    "exp/mono/graph_tgsmall", "data/train", "exp/mono/decode_ours"], cwd=run, check=True)
    write_tone(work / "tone.wav")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]).resolve())
