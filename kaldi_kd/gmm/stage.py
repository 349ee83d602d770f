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
