#!/usr/bin/env python3
"""Training throughput of the hybrid AM encoders on a fixed synthetic batch.

For each model type (TDNN, TDNN-F, BLSTM, Conformer) at a typical size, time full
training steps (forward + CE + backward + AdamW) and report frames/s (input frames),
peak memory and, with torch.utils.flop_counter, FLOPs per step, achieved FLOP/s and the
model-FLOP utilisation (MFU) against the device's peak (known for NVIDIA data-centre GPUs;
null on CPU).  Each type runs in its own subprocess so peak memory (CUDA: max allocated;
CPU: growth of the max RSS over the process baseline) is per model.

Usage:
    PYTHONPATH=. python bench/train_throughput.py [--batch 8] [--frames 300] [--steps 5]
        [--threads N] [--types tdnn,tdnnf,blstm,conformer] [--out bench/results/train_throughput.json]
Writes the JSON (and a PNG beside it when matplotlib is available).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# typical sizes: ~similar parameter budgets (several M parameters), 40-dim fbank, 2000 pdfs
SIZES = {
    "tdnn": dict(hidden_dim=512, num_layers=6),
    "tdnnf": dict(hidden_dim=768, num_layers=12, bottleneck_dim=128, tdnn_context=[1, 1, 1, 3, 3, 3]),
    "blstm": dict(hidden_dim=256, num_layers=3),
    "conformer": dict(hidden_dim=256, num_layers=6, num_heads=4, conv_kernel=15, subsampling=1),
}
PEAK_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "V100": 125e12, "L4": 121e12, "A10": 125e12}


def _peak_flops(device) -> float | None:
    import torch
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for k, v in PEAK_FLOPS.items():
        if k in name:
            return v
    return None


def bench_one(kind: str, batch: int, frames: int, steps: int, threads: int) -> dict:
    """Run ``steps`` timed training steps (after 2 warm-up steps) of model ``kind``."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from kaldi_kd.am.data import Batch
    from kaldi_kd.am.model import HybridModel, ModelConfig
    from kaldi_kd.am.objective import CEObjective

    torch.set_num_threads(threads)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    cfg = ModelConfig(type=kind, input_dim=40, num_pdfs=2000, dropout=0.1, **SIZES[kind])
    model = HybridModel(cfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    feats = torch.randn(batch, frames, 40, device=device)
    lengths = torch.full((batch,), frames, device=device)
    lengths[1::2] = frames * 3 // 4                        # some padding, as in real batches
    t_out = -(-frames // cfg.subsampling)
    targets = torch.randint(0, 2000, (batch, t_out), device=device)
    b = Batch(feats, lengths, targets, [str(i) for i in range(batch)],
              torch.zeros(batch, dtype=torch.long, device=device), targets != -100)
    obj = CEObjective()
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else None

    def step():
        if amp is not None:
            with amp:
                loss, _ = obj(model, b)
        else:
            loss, _ = obj(model, b)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    with FlopCounterMode(display=False) as fc:
        step()
    flops = fc.get_total_flops()
    step()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    in_frames = int(lengths.sum()) * steps
    peak = (torch.cuda.max_memory_allocated() if device.type == "cuda"
            else (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base_rss) * 1024)
    pf = _peak_flops(device)
    achieved = flops * steps / dt
    return {
        "type": kind, "config": SIZES[kind], "params_M": round(sum(p.numel() for p in model.parameters()) / 1e6, 3),
        "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
        "threads": threads, "batch": batch, "frames": frames, "steps": steps,
        "frames_per_s": round(in_frames / dt, 1), "step_s": round(dt / steps, 4),
        "peak_mem_MiB": round(peak / 2**20, 1),
        "peak_mem_kind": "cuda max_memory_allocated" if device.type == "cuda" else "cpu max-RSS growth",
        "gflops_per_step": round(flops / 1e9, 2), "achieved_tflops": round(achieved / 1e12, 4),
        "mfu": round(achieved / pf, 4) if pf else None,
    }


def plot(results: list, png: Path) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.5))
    names = [r["type"] for r in results]
    ax[0].bar(names, [r["frames_per_s"] for r in results])
    ax[0].set_ylabel("training frames / s")
    ax[1].bar(names, [r["peak_mem_MiB"] for r in results], color="tab:orange")
    ax[1].set_ylabel("peak memory (MiB)")
    fig.suptitle(f"AM training throughput ({results[0]['device']}, batch {results[0]['batch']}x{results[0]['frames']})")
    fig.tight_layout()
    fig.savefig(png, dpi=100)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--frames", type=int, default=300)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--types", default="tdnn,tdnnf,blstm,conformer")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "train_throughput.json"))
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.one:
        print(json.dumps(bench_one(a.one, a.batch, a.frames, a.steps, a.threads)))
        return 0
    results = []
    for kind in a.types.split(","):
        out = subprocess.run([sys.executable, __file__, "--one", kind, "--batch", str(a.batch),
                              "--frames", str(a.frames), "--steps", str(a.steps), "--threads", str(a.threads)],
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{kind:10s} {r['frames_per_s']:10.1f} frames/s  peak {r['peak_mem_MiB']:8.1f} MiB  "
              f"{r['gflops_per_step']:8.1f} GFLOP/step  {r['params_M']} M params")
        results.append(r)
    out_path = Path(a.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"python": platform.python_version(), "machine": platform.machine(),
            "cpu_count": os.cpu_count()}
    import torch
    meta["torch"] = torch.__version__
    out_path.write_text(json.dumps({"meta": meta, "results": results}, indent=1) + "\n")
    plot(results, out_path.with_suffix(".png"))
    print(f"wrote {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
