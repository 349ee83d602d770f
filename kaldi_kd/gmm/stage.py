"""Helpers shared by the GMM stage scripts: input checks and logging set-up."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Iterable, Union

PathLike = Union[str, os.PathLike]


class StageInputError(FileNotFoundError):
    """A stage input is missing; the message names the file."""


def require_files(script: str, paths: Iterable[PathLike]) -> None:
    """Raise :class:`StageInputError` naming the first missing file (Kaldi's check)."""
    for p in paths:
        if not Path(p).is_file():
            raise StageInputError(f"{script}: expected file {p} to exist")


def setup_logging(log_file: PathLike, name: str) -> None:
    """Log INFO to the console and to ``log_file`` (overwritten)."""
    Path(log_file).parent.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {name}: %(message)s",
                        handlers=[logging.StreamHandler(),
                                  logging.FileHandler(log_file, mode="w")], force=True)


def config_yaml(d: dict) -> str:
    """A config dict (tuples as lists) as YAML, for ``<exp-dir>/config.yaml``."""
    import yaml

    return yaml.safe_dump({k: list(v) if isinstance(v, tuple) else v for k, v in d.items()},
                          sort_keys=False)


def copy_phones_txt(lang_dir: PathLike, exp_dir: PathLike) -> None:
    """Copy ``lang/phones.txt`` into the exp dir, as Kaldi's training/alignment scripts
    do (``utils/lang/check_phones_compatible.sh`` compares it later)."""
    import shutil

    from kaldi_kd.data.atomic import atomic_path

    with atomic_path(Path(exp_dir) / "phones.txt") as tmp:
        shutil.copyfile(Path(lang_dir) / "phones.txt", tmp)
