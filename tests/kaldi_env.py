"""Real Kaldi for the Kaldi-binary tests: skipped when KALDI_ROOT is unset, failing (not
skipped) when it is set but its binaries are missing, so `KALDI_ROOT=... make test` runs them all."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

KALDI_ROOT = os.environ.get("KALDI_ROOT", "")
KALDI_BIN_DIRS = ("bin", "featbin", "gmmbin", "fstbin", "latbin", "lmbin")

needs_kaldi = pytest.mark.skipif(not KALDI_ROOT, reason="KALDI_ROOT not set (no real Kaldi here)")


def kaldi_env() -> dict:
    """os.environ with Kaldi's binary dirs, utils/ and OpenFst's bin first on PATH (asserts they exist)."""
    src = Path(KALDI_ROOT) / "src"
    for probe in ("bin/copy-int-vector", "featbin/apply-cmvn", "gmmbin/gmm-info", "latbin/lattice-copy",
                  "fstbin/fsttablecompose"):
        assert (src / probe).is_file(), f"KALDI_ROOT={KALDI_ROOT}: {src / probe} is missing (build Kaldi first)"
    dirs = [str(src / d) for d in KALDI_BIN_DIRS]
    dirs += [str(Path(KALDI_ROOT) / "egs" / "wsj" / "s5" / "utils"), str(Path(KALDI_ROOT) / "tools" / "openfst" / "bin")]
    return dict(os.environ, PATH=os.pathsep.join(dirs + [os.environ["PATH"]]), LC_ALL="C")
