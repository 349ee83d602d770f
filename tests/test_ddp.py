"""Two-process gloo DistributedDataParallel run: ranks stay in sync and read disjoint shards."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

sys.path.insert(0, str(Path(__file__).parent))
from am_toy import make_toy_corpus, toy_transition_model  # noqa: E402

from kaldi_kd.am.data import transition_id_to_pdf
from kaldi_kd.am.objective import CEObjective
from kaldi_kd.train.checkpoint import load_checkpoint, step_checkpoints
from kaldi_kd.train.config import load_config
from kaldi_kd.train.loop import train
from kaldi_kd.train.setup import prepare_training


class _Recording:
    def __init__(self):
        self.utts, self.ce = [], CEObjective()

    def __call__(self, model, batch):
        self.utts.append(list(batch.utt_ids))
        return self.ce(model, batch)


def _worker(rank: int, world: int, root: str, num_pdfs: int) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{root}/rendezvous", rank=rank, world_size=world)
    try:
        tid2pdf = transition_id_to_pdf(toy_transition_model())
        cfg = load_config(None, ["model.hidden_dim=16", "model.num_layers=2", "data.max_frames=200",
                                 "max_steps=4", "checkpoint_every=2", "seed=11",
                                 "model.dropout=0.1"])
        torch.manual_seed(100 + rank)            # different init per rank: DDP must broadcast rank 0's
        setup = prepare_training(f"{root}/data", f"{root}/ali", f"{root}/exp", cfg, tid2pdf, num_pdfs)
        obj = _Recording()
        train(setup.model, obj, setup.train_loader, setup.valid_loader, cfg, f"{root}/exp")
        torch.save({"params": setup.model.state_dict(), "batches": obj.utts,
                    "per_epoch": len(setup.train_loader)}, f"{root}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_process_gloo_ddp(tmp_path):
    tm = toy_transition_model()
    make_toy_corpus(tmp_path, transition_id_to_pdf(tm), num_utts=24)
    mp.spawn(_worker, args=(2, str(tmp_path), tm.num_pdfs), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2))
    for k, v in r0["params"].items():
        assert torch.equal(v, r1["params"][k]), k
    n = r0["per_epoch"]
    assert n == r1["per_epoch"] and len(r0["batches"]) == len(r1["batches"]) == 4
    first0 = {u for b in r0["batches"][:n] for u in b}         # one epoch: disjoint shards
    first1 = {u for b in r1["batches"][:n] for u in b}
    assert first0 and first1 and not first0 & first1
    ckpts = step_checkpoints(tmp_path / "exp" / "checkpoints")
    assert ckpts[-1].name == "step_00000004.pt"
    state = load_checkpoint(ckpts[-1])
    assert len(state["rng"]) == 2 and state["step"] == 4          # one RNG state per rank
    final = load_checkpoint(tmp_path / "exp" / "final.pt")["model"]
    assert all(torch.equal(final[k], v) for k, v in r0["params"].items())
