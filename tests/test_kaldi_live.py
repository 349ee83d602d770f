"""Real Kaldi in the loop (KALDI_ROOT set): a fresh set of golden files made by Kaldi now,
checked by the same tests that check the committed ones (tests/test_kaldi_golden.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from kaldi_env import KALDI_ROOT, kaldi_env, needs_kaldi

ROOT = Path(__file__).resolve().parents[1]


@needs_kaldi
def test_fresh_golden_files_from_this_kaldi(tmp_path):
    env = dict(kaldi_env(), KALDI_ROOT=KALDI_ROOT, GOLDEN_OUT=str(tmp_path / "golden"), PYTHON=sys.executable)
    res = subprocess.run(["bash", str(ROOT / "tests" / "data" / "kaldi" / "make_golden.sh"), str(tmp_path / "work")],
                         env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          str(ROOT / "tests" / "test_kaldi_golden.py")],
                         env=dict(os.environ, KALDI_KD_GOLDEN_DIR=str(tmp_path / "golden")),
                         capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stdout[-5000:]
    assert "skipped" not in res.stdout.splitlines()[-1], res.stdout[-2000:]
