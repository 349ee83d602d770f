"""Exact resume: a training process SIGKILLed anywhere and continued with --resume ends with
a final model bit-identical to an uninterrupted run (CPU), for the AM and a teacher LM.

Kill points (tests/kill_driver.py): right after an epoch-end checkpoint, right after a
mid-epoch checkpoint, during validation, and at the start of a random step.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from am_toy import make_toy_corpus, toy_transition_model, write_toy_final_mdl  # noqa: E402
from test_teachers import _corpus  # noqa: E402

from kaldi_kd.am.data import transition_id_to_pdf

ROOT = Path(__file__).resolve().parents[1]
DRIVER = Path(__file__).parent / "kill_driver.py"
ENV = dict(os.environ, PYTHONPATH=str(ROOT))


def _drive(trace: Path, point: str, n: int, script: str, args: List[str], threads: int = 1
           ) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(DRIVER), str(trace), point, str(n), str(ROOT / "steps_py" / script)] + args
    env = dict(ENV, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


def _events(trace: Path) -> List[Dict]:
    return [json.loads(line) for line in trace.read_text().splitlines()]


def _state(path: Path) -> Dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=False)["model"]


def _assert_identical(a: Path, b: Path, what: str) -> None:
    ref, got = _state(a), _state(b)
    assert ref.keys() == got.keys(), what
    for k in ref:
        assert torch.equal(ref[k], got[k]), (what, k, float((ref[k].float() - got[k].float()).abs().max()))


def _kill_and_resume(tmp: Path, name: str, point: str, n: int, script: str, args: List[str],
                     resume_args: List[str], out_file: str) -> Path:
    """Run killed at (point, n), check it died by SIGKILL, resume it; return its final model."""
    exp = tmp / name
    killed = _drive(tmp / f"{name}.trace", point, n, script, args(exp))
    assert killed.returncode == -signal.SIGKILL, (name, killed.returncode, killed.stderr[-2000:])
    assert not (exp / out_file).exists(), name
    # resumed in another environment (2 CPU threads): the checkpoint's thread count is restored
    done = _drive(tmp / f"{name}.resume.trace", "none", 0, script, resume_args + args(exp), threads=2)
    assert done.returncode == 0, (name, done.stderr[-2000:])
    return exp / out_file


@pytest.fixture(scope="module")
def am_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("am_kill")
    tm = toy_transition_model()
    data, ali, _ = make_toy_corpus(root, transition_id_to_pdf(tm), num_utts=24)
    write_toy_final_mdl(ali / "final.mdl", tm)
    conf = root / "am.yaml"
    conf.write_text("model:\n  type: tdnn\n  hidden_dim: 24\n  num_layers: 3\n  dropout: 0.2\n"
                    "data:\n  max_frames: 200\n  valid_fraction: 0.2\noptim:\n  warmup_steps: 3\n"
                    "num_epochs: 3\ncheckpoint_every: 5\nlog_every: 2\nprior_utts: 0\nseed: 5\n")
    return data, ali, conf


def test_am_resume_after_sigkill_is_bit_identical(am_corpus, tmp_path):
    data, ali, conf = am_corpus

    def args(exp: Path) -> List[str]:
        return ["--config", str(conf), str(data), str(ali), str(exp)]

    ref = _drive(tmp_path / "ref.trace", "none", 0, "train_am.py", args(tmp_path / "ref"))
    assert ref.returncode == 0, ref.stderr[-2000:]
    events = _events(tmp_path / "ref.trace")
    saves = [e for e in events if e["event"] == "save"]
    epoch_end = next(e["n"] for e in saves if e["position"] == 0 and e["epoch"] == 1)
    mid_epoch = next(e["n"] for e in saves if e["position"] != 0)
    steps = sum(e["event"] == "step" for e in events)
    assert steps > 10 and sum(e["event"] == "validate" for e in events) >= 3
    rng = random.Random(15)
    points = [("save", epoch_end), ("save", mid_epoch), ("validate", 2), ("step", rng.randrange(2, steps))]
    for i, (point, n) in enumerate(points):
        final = _kill_and_resume(tmp_path, f"kill{i}", point, n, "train_am.py", args, ["--resume"], "final.pt")
        _assert_identical(tmp_path / "ref" / "final.pt", final, f"{point} {n}")


def test_lm_resume_after_sigkill_is_bit_identical(tmp_path):
    corpus = _corpus(tmp_path / "corpus", n_train=200, n_valid=20)
    conf = tmp_path / "lm.yaml"
    conf.write_text("kind: bidir\nd_model: 32\nn_heads: 2\nn_layers: 1\nd_ff: 64\ndropout: 0.2\nbatch_size: 8\n"
                    "max_steps: 40\nwarmup_steps: 5\ncheckpoint_every: 10\nvalid_every: 15\nnum_threads: 1\n")

    def args(exp: Path) -> List[str]:
        return ["--config", str(conf), "--no-progress", "--device", "cpu", str(corpus), str(exp)]

    ref = _drive(tmp_path / "ref.trace", "none", 0, "train_lm.py", args(tmp_path / "ref"))
    assert ref.returncode == 0, ref.stderr[-2000:]
    rng = random.Random(15)
    points = [("save", 1), ("save", 3), ("validate", 2), ("step", rng.randrange(2, 40))]
    for i, (point, n) in enumerate(points):
        final = _kill_and_resume(tmp_path, f"kill{i}", point, n, "train_lm.py", args, ["--resume"], "teacher.pt")
        _assert_identical(tmp_path / "ref" / "teacher.pt", final, f"{point} {n}")
