"""Backend detection, the doctor report and the wheels' import order."""

import os
import stat
import subprocess
import sys

import pytest

from kaldi_kd.kaldi.backend import BackendError, detect_backend, kaldi_binary
from kaldi_kd.kaldi.doctor import PACKAGES, run_doctor


def _fake_kaldi(root):
    bindir = root / "src" / "bin"
    bindir.mkdir(parents=True)
    exe = bindir / "ali-to-pdf"
    exe.write_text("#!/bin/sh\necho fake\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return exe


def test_embedded_without_kaldi_root():
    assert detect_backend({}).name == "embedded"


def test_kaldi_when_root_holds_binaries(tmp_path):
    exe = _fake_kaldi(tmp_path)
    backend = detect_backend({"KALDI_ROOT": str(tmp_path)})
    assert backend.name == "kaldi" and backend.kaldi_root == tmp_path
    assert kaldi_binary(backend, "ali-to-pdf") == str(exe)


def test_unbuilt_kaldi_root_falls_back_to_embedded(tmp_path):
    (tmp_path / "src").mkdir()
    assert detect_backend({"KALDI_ROOT": str(tmp_path)}).name == "embedded"


def test_forced_kaldi_without_build_is_an_error(tmp_path):
    with pytest.raises(BackendError, match="src/bin/ali-to-pdf"):
        detect_backend({"KALDI_ROOT": str(tmp_path), "KALDI_KD_BACKEND": "kaldi"})


def test_forced_embedded_wins(tmp_path):
    _fake_kaldi(tmp_path)
    env = {"KALDI_ROOT": str(tmp_path), "KALDI_KD_BACKEND": "embedded"}
    assert detect_backend(env).name == "embedded"


def test_bad_backend_name(tmp_path):
    with pytest.raises(BackendError, match="'gpu'"):
        detect_backend({"KALDI_KD_BACKEND": "gpu"})


def test_doctor_reports_every_package():
    lines, problems = run_doctor()
    text = "\n".join(lines)
    assert problems == [], problems
    for name, pin in PACKAGES:
        assert name in text
        if pin:
            assert f"{name:20s} {pin}" in text
    assert "sclite" in text and "backend: " in text


def test_wheels_import_does_not_hang():
    # kaldilm before kaldi_hmm_gmm hangs; the wheels module must fix the order.
    proc = subprocess.run(
        [sys.executable, "-c", "import kaldi_kd.kaldi.wheels as w; print(w.kaldilm.__name__)"],
        capture_output=True, text=True, timeout=60, env={**os.environ},
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "kaldilm"


def test_decode_jobs_use_the_kaldi_backend_under_any_runner(monkeypatch):
    """Each decode job, whether run by the local pool or as a --cmd job (--job JOB), goes to
    Kaldi's latgen-faster-mapped when the backend is kaldi, and to ours otherwise."""
    from kaldi_kd.decode import stage
    from kaldi_kd.kaldi.backend import Backend

    calls = []
    monkeypatch.setattr(stage, "run_kaldi_decode_job", lambda job, spec, backend: calls.append(("kaldi", job)))
    monkeypatch.setattr(stage, "run_decode_job", lambda job, spec: calls.append(("ours", job)))

    class Spec:
        kind = "loglikes"

    monkeypatch.setattr("kaldi_kd.kaldi.backend.detect_backend", lambda: Backend("kaldi", None))
    stage.run_backend_job(3, Spec())
    monkeypatch.setattr("kaldi_kd.kaldi.backend.detect_backend", lambda: Backend("embedded"))
    stage.run_backend_job(4, Spec())
    assert calls == [("kaldi", 3), ("ours", 4)]
