"""Atomic file output: write to a temporary name beside the target, rename on success.

A killed job therefore never leaves a half-written ark, checkpoint or text file
under the final name, and a rerun sees either nothing or a complete file.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Union

PathLike = Union[str, os.PathLike]


@contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target's directory; rename it to ``path`` on success.

    On an exception the temporary file is removed and ``path`` is left untouched.

    Example:
        >>> with atomic_path("exp/x/ali.1.gz") as tmp:   # doctest: +SKIP
        ...     write_something(tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text_atomic(path: PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
