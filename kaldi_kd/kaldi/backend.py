"""Which Kaldi does the work: real binaries under ``KALDI_ROOT`` or the embedded wheels.

The backend is "kaldi" when ``KALDI_ROOT`` points at a *built* Kaldi tree (its
``src/bin/ali-to-pdf`` exists and is executable), otherwise "embedded".  Both
backends read and write the same Kaldi files.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from kaldi_kd.errors import KaldiKdError

# Kaldi source sub-directories that hold the binaries recipes call.
KALDI_BIN_DIRS = (
    "src/bin", "src/featbin", "src/gmmbin", "src/latbin", "src/fstbin",
    "src/nnet3bin", "src/lmbin", "tools/openfst/bin", "tools/sctk/bin",
)

SCLITE_CANDIDATES = ("/usr/lib/sctk/bin/sclite", "/usr/bin/sclite")


class BackendError(KaldiKdError, RuntimeError):
    """A required tool or library of the chosen backend is missing."""


@dataclass(frozen=True)
class Backend:
    """The detected backend.

    Attributes:
        name: "kaldi" or "embedded".
        kaldi_root: the Kaldi tree when ``name == "kaldi"``.
    """

    name: str
    kaldi_root: Optional[Path] = None

    @property
    def is_kaldi(self) -> bool:
        return self.name == "kaldi"


def _is_built_kaldi(root: Path) -> bool:
    probe = root / "src" / "bin" / "ali-to-pdf"
    return probe.is_file() and os.access(probe, os.X_OK)


def detect_backend(env: Optional[dict] = None) -> Backend:
    """Return the backend selected by the environment.

    ``KALDI_KD_BACKEND=embedded`` forces the embedded backend even when Kaldi is
    present; ``KALDI_KD_BACKEND=kaldi`` demands a built Kaldi and raises
    :class:`BackendError` if ``KALDI_ROOT`` does not hold one.
    """
    env = os.environ if env is None else env
    forced = env.get("KALDI_KD_BACKEND", "").strip().lower()
    root = env.get("KALDI_ROOT")
    if forced == "embedded":
        return Backend("embedded")
    if root and _is_built_kaldi(Path(root)):
        return Backend("kaldi", Path(root))
    if forced == "kaldi":
        raise BackendError(
            f"KALDI_KD_BACKEND=kaldi but KALDI_ROOT={root!r} holds no built Kaldi "
            "(expected src/bin/ali-to-pdf to exist)"
        )
    if forced not in ("", "auto"):
        raise BackendError(f"KALDI_KD_BACKEND={forced!r}: expected 'kaldi', 'embedded' or 'auto'")
    return Backend("embedded")


def kaldi_binary(backend: Backend, name: str) -> str:
    """Path of Kaldi binary ``name`` in ``backend``'s tree (or on PATH)."""
    if backend.kaldi_root is not None:
        for sub in KALDI_BIN_DIRS:
            cand = backend.kaldi_root / sub / name
            if cand.is_file():
                return str(cand)
    found = shutil.which(name)
    if found:
        return found
    raise BackendError(f"Kaldi binary '{name}' not found under {backend.kaldi_root} or on PATH")


def sclite_path() -> str:
    """Path of sclite (sctk): PATH first, then Debian's ``/usr/lib/sctk/bin``."""
    found = shutil.which("sclite")
    if found:
        return found
    root = os.environ.get("KALDI_ROOT")
    cands = list(SCLITE_CANDIDATES)
    if root:
        cands.insert(0, str(Path(root) / "tools" / "sctk" / "bin" / "sclite"))
    for cand in cands:
        if os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    raise BackendError("sclite not found: install Debian's 'sctk' (apt-get install sctk)")
