"""Run a training script in this process and SIGKILL it at a chosen point (kill-and-resume tests).

Usage: python kill_driver.py <trace.jsonl> <point> <n> <script.py> [script args...]

<point> <n>:
  step N       at the start of the N-th optimiser step of this process
  save N       right after the N-th step checkpoint of this process is on disk
  validate N   during the N-th validation of this process (after its first batch)
  none 0       no kill

Every step checkpoint and validation is appended to <trace.jsonl> as
``{"event": "save"|"validate", "n": n, "step": s, "epoch": e, "position": p}`` (AM) so a
test can pick its kill points from an uninterrupted run.  train_am.py (kaldi_kd.train.loop)
and train_lm.py (kaldi_kd.lm.train) are supported.
"""

from __future__ import annotations

import json
import os
import runpy
import signal
import sys
from pathlib import Path


def main() -> None:
    trace, point, n, script, *args = sys.argv[1:]
    n = int(n)
    counts = {"step": 0, "save": 0, "validate": 0}

    def record(event: str, **info) -> None:
        counts[event] += 1
        with open(trace, "a") as f:
            f.write(json.dumps({"event": event, "n": counts[event], **info}) + "\n")

    def kill_if(event: str) -> None:
        if point == event and counts[event] == n:
            os.kill(os.getpid(), signal.SIGKILL)

    if Path(script).name == "train_am.py":
        _patch_am(record, kill_if)
    else:
        _patch_lm(record, kill_if)
    sys.argv = [script] + args
    runpy.run_path(script, run_name="__main__")


def _patch_am(record, kill_if) -> None:
    from kaldi_kd.train import loop

    step, save, validate = loop._Run.train_step, loop._Run.save, loop.validate

    def train_step(self, batch):
        record("step", step=self.step, epoch=self.epoch, position=self.position)
        kill_if("step")
        return step(self, batch)

    def save_(self):
        save(self)
        record("save", step=self.step, epoch=self.epoch, position=self.position)
        kill_if("save")

    def validate_(model, loader, device, bf16=False):
        record("validate")
        return validate(model, _KillAfterFirst(loader, kill_if), device, bf16)

    loop._Run.train_step, loop._Run.save, loop.validate = train_step, save_, validate_


def _patch_lm(record, kill_if) -> None:
    from kaldi_kd.lm import train

    loss, save, stats = train.training_loss, train._save_checkpoint, train.teacher_stats

    def training_loss(*args, **kwargs):
        record("step")
        kill_if("step")
        return loss(*args, **kwargs)

    def save_(path, model, opt, step, *rest):
        save(path, model, opt, step, *rest)
        record("save", step=step)
        kill_if("save")

    def teacher_stats(model, seqs, device, *args, **kwargs):
        record("validate")
        half = max(1, len(seqs) // 2)
        out = stats(model, seqs[:half], device, *args, **kwargs)
        kill_if("validate")
        return stats(model, seqs, device, *args, **kwargs) if half < len(seqs) else out

    train.training_loss, train._save_checkpoint, train.teacher_stats = training_loss, save_, teacher_stats


class _KillAfterFirst:
    """A loader that yields its first batch, then (on the next request) lets kill_if fire."""

    def __init__(self, loader, kill_if):
        self.loader, self.kill_if = loader, kill_if

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        for i, batch in enumerate(self.loader):
            if i == 1:
                self.kill_if("validate")
            yield batch
        self.kill_if("validate")


if __name__ == "__main__":
    main()
