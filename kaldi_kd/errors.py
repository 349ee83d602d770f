"""User-facing errors and the one line each stage script prints for them.

Every error a user can fix by changing an input derives from :class:`KaldiKdError`
(the module-specific classes such as ``DataDirError`` or ``ConfigError`` add it as a
base next to their builtin one, so ``except ValueError`` code keeps working).  Its
message starts with where the problem is and ends with what to do::

    <file>:<line>: <what is wrong> (<what to do>)
    <file>: utterance '<id>': <what is wrong> (<what to do>)

A message of several lines is several problems, one per line.

Every ``steps_py/`` script ends with ``sys.exit(run_main(main))``: :func:`run_main`
prints such an error as ``<script>: <message>`` on stderr, one line per problem, and
returns 1, without a traceback.  ``KALDI_KD_DEBUG=1`` in the environment re-raises it
(full traceback).  Errors that are not the project's own (bugs) keep their traceback.

Example:
    >>> raise MissingFileError("exp/tri1/final.mdl", "run steps_py/train_deltas.py first")  # doctest: +SKIP
    train_am.py: exp/tri1/final.mdl: expected file to exist (run steps_py/train_deltas.py first)
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Callable, Iterable, List, Optional, Union

PathLike = Union[str, os.PathLike]
DEBUG_ENV = "KALDI_KD_DEBUG"


class KaldiKdError(Exception):
    """An input problem the user can fix; the message names the file and line or utterance."""


class InputError(KaldiKdError, ValueError):
    """A bad input value or file content (for modules without an error class of their own)."""


class MissingFileError(KaldiKdError, FileNotFoundError):
    """An expected input file does not exist."""

    def __init__(self, path: PathLike, hint: str = ""):
        msg = f"{path}: expected file to exist" + (f" ({hint})" if hint else "")
        super().__init__(msg)
        self.filename = str(path)

    def __str__(self) -> str:
        return str(self.args[0])


def require_files(paths: Iterable[PathLike], hint: str = "") -> None:
    """Raise :class:`MissingFileError` naming the first of ``paths`` that does not exist."""
    for p in paths:
        if not Path(p).exists():
            raise MissingFileError(p, hint)


def error_lines(prog: str, err: BaseException) -> List[str]:
    """The report of ``err``: ``<prog>: <line>`` for every non-empty line of its message."""
    if isinstance(err, OSError) and not isinstance(err, KaldiKdError) and err.filename:
        text = f"{err.filename}: {err.strerror or err}"
    else:
        text = str(err) or type(err).__name__
    return [f"{prog}: {line.strip()}" for line in text.splitlines() if line.strip()]


def is_user_error(err: BaseException) -> bool:
    """The project's own input errors, missing files, and OS errors naming a file."""
    if isinstance(err, (KaldiKdError, FileNotFoundError)):
        return True
    return isinstance(err, (PermissionError, IsADirectoryError, NotADirectoryError)) and bool(err.filename)


def debug_enabled() -> bool:
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def run_main(main: Callable[[], Optional[int]], prog: Optional[str] = None) -> int:
    """Run a script's ``main()``; report a user error as one line per problem on stderr.

    Args:
        main: the script's entry point (returns its exit status or None for 0).
        prog: the name in front of each line (default: the script's file name).
    Returns:
        main's status, 1 after a reported user error, 130 on Ctrl-C.
    """
    prog = prog or Path(sys.argv[0]).name
    try:
        return int(main() or 0)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - only user errors are reported, the rest re-raised
        if not is_user_error(err) or debug_enabled():
            raise
        lines = error_lines(prog, err)
        print("\n".join(lines), file=sys.stderr)
        _log_to_files(lines)
        return 1


def _log_to_files(lines: List[str]) -> None:
    """Append the report to the stage's log files (the handlers a script set up), not to stderr."""
    for name in ("", "kaldi_kd"):
        for h in logging.getLogger(name).handlers:
            if isinstance(h, logging.FileHandler) and not getattr(h.stream, "closed", False):
                for line in lines:
                    h.handle(logging.LogRecord(name or "root", logging.ERROR, __file__, 0, line, None, None))
