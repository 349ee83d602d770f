"""Running N parallel jobs the Kaldi way: through a ``$cmd`` runner or in-process.

A stage either hands ``$cmd JOB=1:N <log-with-JOB> <command with JOB>`` to the user's
runner (``steps_py/run.pl``, queue.pl, slurm.pl), or, with no ``--cmd``, runs a Python
function per job in a process pool, each job logging into its own file.
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Callable, Dict, List, Sequence


class JobError(RuntimeError):
    """One or more jobs failed; the message names their logs."""


def run_cmd_jobs(cmd: str, num_jobs: int, log_pattern: str, argv: Sequence[str]) -> None:
    """Run ``<cmd> JOB=1:N <log_pattern> <argv...>`` (argv and log contain ``JOB``).

    Raises:
        JobError: naming the runner's message when it exits non-zero.
    """
    full = shlex.split(cmd) + [f"JOB=1:{num_jobs}", log_pattern] + list(argv)
    proc = subprocess.run(full, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise JobError(f"{cmd}: jobs failed ({proc.stderr.strip() or 'exit ' + str(proc.returncode)})")


def _job_wrapper(fn: Callable[..., Any], job: int, log_path: str, kwargs: Dict[str, Any]) -> Any:
    """Run fn(job=..., **kwargs) with logging into ``log_path``; re-raise with the log named."""
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    handler = logging.FileHandler(log_path, mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    saved = root.handlers[:]  # a job logs only to its own file
    root.handlers = [handler]
    root.setLevel(logging.INFO)
    try:
        logging.info("job %d: %s(%s)", job, fn.__name__,
                     ", ".join(f"{k}={v!r}" for k, v in kwargs.items()))
        out = fn(job=job, **kwargs)
        logging.info("job %d: done", job)
        return out
    except Exception as err:
        logging.exception("job %d failed", job)
        raise JobError(f"job {job} failed ({err}); log is in {log_path}") from None
    finally:
        root.handlers = saved
        handler.close()


def run_local_jobs(fn: Callable[..., Any], num_jobs: int, log_pattern: str,
                   kwargs: Dict[str, Any], progress: str = "") -> List[Any]:
    """Run ``fn(job=n, **kwargs)`` for n = 1..N in a process pool (at most nproc at a time).

    Each job logs to ``log_pattern`` with JOB replaced by n.

    Returns:
        the jobs' results in job order.

    Raises:
        JobError: naming every failed job's log.
    """
    from tqdm import tqdm

    workers = max(1, min(num_jobs, os.cpu_count() or 1))
    results: Dict[int, Any] = {}
    errors: List[str] = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futs = {pool.submit(_job_wrapper, fn, n, log_pattern.replace("JOB", str(n)), kwargs): n
                for n in range(1, num_jobs + 1)}
        for fut in tqdm(as_completed(futs), total=num_jobs, desc=progress or fn.__name__,
                        unit="job", disable=not progress):
            try:
                results[futs[fut]] = fut.result()
            except JobError as err:
                errors.append(str(err))
    if errors:
        raise JobError(f"{len(errors)} / {num_jobs} jobs failed:\n" + "\n".join(sorted(errors)))
    return [results[n] for n in range(1, num_jobs + 1)]
