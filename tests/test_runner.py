"""steps_py/run.pl: Kaldi's run.pl calling convention, parallel jobs, logs, failures."""

import subprocess
from pathlib import Path

RUN_PL = Path(__file__).resolve().parents[1] / "steps_py" / "run.pl"


def _run(*args, cwd):
    return subprocess.run([str(RUN_PL), *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_three_jobs_substitute_job_and_log(tmp_path):
    p = _run("JOB=1:3", "log/x.JOB.log", "echo", "job=JOB", "|", "tr", "a-z", "A-Z", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    for n in (1, 2, 3):
        log = (tmp_path / "log" / f"x.{n}.log").read_text().splitlines()
        assert log[0] == f"# echo job={n} | tr a-z A-Z"
        assert log[1].startswith("# Started at")
        assert f"JOB={n}" in log  # the pipe ran: output upper-cased
        assert log[-1].startswith("# Ended (code 0) at")


def test_jobs_run_in_parallel(tmp_path):
    # 3 jobs of 1 s each: in parallel ~1 s, one after another 3 s
    p = subprocess.run(f"time -p {RUN_PL} --max-jobs-run 3 JOB=1:3 log/s.JOB.log sleep 1",
                       shell=True, executable="/bin/bash", cwd=tmp_path, capture_output=True, text=True)
    assert p.returncode == 0
    real = float(next(l for l in p.stderr.splitlines() if l.startswith("real")).split()[1])
    assert real < 2.5


def test_max_jobs_run_bounds_parallelism(tmp_path):
    # each job records how many jobs are running when it starts (marker files)
    cmd = "touch run/JOB; ls run | wc -l > count.JOB; sleep 0.3; rm run/JOB"
    (tmp_path / "run").mkdir()
    p = _run("--max-jobs-run", "2", "JOB=1:5", "log/m.JOB.log", "bash", "-c", cmd, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    counts = [int((tmp_path / f"count.{n}").read_text()) for n in range(1, 6)]
    assert max(counts) <= 2


def test_one_failing_job_fails_and_names_its_log(tmp_path):
    p = _run("JOB=1:3", "log/f.JOB.log", "test", "JOB", "-ne", "2", cwd=tmp_path)
    assert p.returncode == 1
    assert "1 / 3 failed" in p.stderr and "log/f.2.log" in p.stderr
    assert "log/f.1.log" not in p.stderr
    assert "# Ended (code 1)" in (tmp_path / "log" / "f.2.log").read_text()
    assert "# Ended (code 0)" in (tmp_path / "log" / "f.3.log").read_text()


def test_single_job_and_quoted_args(tmp_path):
    p = _run("log/one.log", "echo", "a  b", cwd=tmp_path)
    assert p.returncode == 0
    assert "a  b" in (tmp_path / "log" / "one.log").read_text().splitlines()
    p = _run("log/bad.log", "false", cwd=tmp_path)
    assert p.returncode == 1 and "job failed, log is in log/bad.log" in p.stderr


def test_array_needs_job_in_log_name(tmp_path):
    p = _run("JOB=1:2", "log/x.log", "true", cwd=tmp_path)
    assert p.returncode == 1 and "must contain 'JOB'" in p.stderr
