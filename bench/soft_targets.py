#!/usr/bin/env python3
"""Soft-target engine throughput (output frames/s) per teacher kind, with and without the cache.

Usage: bench/soft_targets.py [--device cpu|cuda] [--vocab V] [--batch B] [--frames T] [--out JSON]
 e.g.: bench/soft_targets.py --device cpu
       bench/soft_targets.py --vocab 113 --frames 300 --seg-len 4.2 --tag cpu-digits

Synthetic utterances with senone-like segments (mean segment length --seg-len input frames),
the default teacher architecture (LMConfig), AM subsampling 3.  Writes
bench/results/soft_targets.json (merged per device).
"""

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from kaldi_kd.kd.soft_targets import SoftTargetEngine
from kaldi_kd.lm.models import UnitLM
from kaldi_kd.lm.teacher import KINDS
from kaldi_kd.lm.train import LMConfig
from kaldi_kd.units.segments import Segments


def make_segments(n_utts: int, frames: int, seg_len: float, vocab: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    out = {}
    for i in range(n_utts):
        durs = np.maximum(1, rng.poisson(seg_len, size=int(frames / seg_len) * 2))
        ends = np.cumsum(durs)
        ends = ends[ends < frames]
        ends = np.append(ends, frames)
        out[f"u{i}"] = Segments(rng.integers(0, vocab, len(ends)), ends)
    return out


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def bench_kind(kind, segs, args, device, cache):
    cfg = LMConfig(kind=kind)
    torch.manual_seed(0)
    teacher = UnitLM(args.vocab, cfg.model_config()).eval().requires_grad_(False).to(device)
    eng = SoftTargetEngine(teacher, segs, tau=2.0, subsampling=args.subsampling, cache=cache)
    utts = list(segs)
    t_out = -(-args.frames // args.subsampling)
    batches = [utts[i : i + args.batch] for i in range(0, len(utts), args.batch)]
    eng.targets(batches[0], [0] * len(batches[0]), t_out, device)  # warm-up
    if cache:  # steady state: every utterance seen once (an epoch)
        for b in batches:
            eng.targets(b, [0] * len(b), t_out, device)
    sync(device)
    t0 = time.perf_counter()
    n_frames = 0
    for _ in range(args.repeats):
        for b in batches:
            st = eng.targets(b, [0] * len(b), t_out, device)
            n_frames += int(st.mask.sum())
    sync(device)
    dt = time.perf_counter() - t0
    return {"frames_per_s": n_frames / dt, "s_per_batch": dt / (args.repeats * len(batches))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--vocab", type=int, default=1000, help="units (senones)")
    p.add_argument("--batch", type=int, default=16, help="utterances per batch")
    p.add_argument("--frames", type=int, default=600, help="input frames per utterance")
    p.add_argument("--seg-len", type=float, default=6.0, help="mean segment length (input frames)")
    p.add_argument("--subsampling", type=int, default=3)
    p.add_argument("--utts", type=int, default=64)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--tag", default="", help="key in the JSON (default: the device type)")
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "soft_targets.json"))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    segs = make_segments(args.utts, args.frames, args.seg_len, args.vocab)
    k_mean = float(np.mean([len(s) for s in segs.values()]))
    results = {}
    for kind in KINDS:
        for cache in (False, True):
            r = bench_kind(kind, segs, args, device, cache)
            results[f"{kind}{'+cache' if cache else ''}"] = r
            print(f"{device.type} {kind:7s} cache={cache!s:5s} {r['frames_per_s']:12.0f} frames/s "
                  f"{1000 * r['s_per_batch']:8.1f} ms/batch", flush=True)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    entry = {"device": name, "threads": args.threads, "vocab": args.vocab, "batch": args.batch,
             "input_frames": args.frames, "subsampling": args.subsampling, "mean_K": k_mean,
             "teacher": {k: v for k, v in vars(LMConfig()).items() if k in ("d_model", "n_layers", "n_heads", "d_ff")},
             "results": results}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(out.read_text()) if out.exists() else {}
    data[args.tag or device.type] = entry
    out.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
