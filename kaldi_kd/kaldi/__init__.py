"""Kaldi backends: detection of a real Kaldi build, and the embedded wheels.

Import the wheels through :mod:`kaldi_kd.kaldi.wheels` (never directly): it fixes
the import order that avoids a hang.
"""

from kaldi_kd.kaldi.backend import Backend, detect_backend, kaldi_binary, sclite_path

__all__ = ["Backend", "detect_backend", "kaldi_binary", "sclite_path"]
