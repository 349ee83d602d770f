"""Running N parallel jobs the Kaldi way: through a ``$cmd`` runner or in-process.

A stage either hands ``$cmd JOB=1:N <log-with-JOB> <command with JOB>`` to the user's
runner (``steps_py/run.pl``, queue.pl, slurm.pl), or, with no ``--cmd``, runs a Python
function per job in a process pool, each job logging into its own file.
:func:`run_spec_jobs` does either for a job function that takes a JSON-able spec,
with :func:`spec_job_main` as the ``python -m`` entry the runner calls.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from kaldi_kd.errors import KaldiKdError

PathLike = Union[str, os.PathLike]


class JobError(KaldiKdError, RuntimeError):
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
        raise JobError(f"{err} (job {job}; log: {log_path})") from None
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
        raise JobError("\n".join(sorted(errors)) + f"\n{len(errors)} / {num_jobs} jobs failed (see the lines above)")
    return [results[n] for n in range(1, num_jobs + 1)]


def _spec_stem(spec_path: Path) -> str:
    name = spec_path.name
    return name[:-len(".spec.json")] if name.endswith(".spec.json") else spec_path.stem


def run_spec_jobs(fn: Callable[..., Any], spec: Any, num_jobs: int, cmd: Optional[str], module: str,
                  log_dir: PathLike, stem: str, progress: str = "") -> List[Any]:
    """Run ``fn(job=n, spec=spec)`` for n = 1..N, in-process or through ``cmd``.

    ``spec`` is a dataclass of JSON values; ``fn`` returns a JSON-serialisable result.
    Jobs log to ``<log_dir>/<stem>.JOB.log``. With ``cmd`` the spec is written to
    ``<log_dir>/<stem>.spec.json`` and the runner calls ``python -m <module> <spec.json> JOB``
    (a module whose ``main`` is :func:`spec_job_main`); job n leaves its result in
    ``<log_dir>/<stem>.<n>.json``.

    Returns:
        the jobs' results in job order.

    Raises:
        JobError: naming the failed jobs' logs or the runner's message.
    """
    log_dir = Path(log_dir)
    log_pattern = str(log_dir / f"{stem}.JOB.log")
    if not cmd:
        return run_local_jobs(fn, num_jobs, log_pattern, {"spec": spec}, progress=progress)
    spec_path = log_dir / f"{stem}.spec.json"
    spec_path.write_text(json.dumps(asdict(spec)))
    run_cmd_jobs(cmd, num_jobs, log_pattern, [shlex.quote(sys.executable), "-m", module, str(spec_path), "JOB"])
    return [json.loads((log_dir / f"{stem}.{n}.json").read_text()) for n in range(1, num_jobs + 1)]


def spec_job_main(argv: Optional[Sequence[str]], module: str, spec_type: Callable[..., Any],
                  fn: Callable[..., Any]) -> int:
    """``python -m <module> <dir>/<stem>.spec.json <job>``: one job of :func:`run_spec_jobs`.

    Runs ``fn(job, spec)`` and writes its result to ``<dir>/<stem>.<job>.json``.
    Returns the exit status (1 with a usage line on wrong arguments).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) != 2:
        print(f"usage: python -m {module} <spec.json> <job>", file=sys.stderr)
        return 1
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    spec_path = Path(argv[0])
    spec = spec_type(**json.loads(spec_path.read_text()))
    job = int(argv[1])
    out = fn(job, spec)
    spec_path.with_name(f"{_spec_stem(spec_path)}.{job}.json").write_text(json.dumps(out))
    return 0
