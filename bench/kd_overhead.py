#!/usr/bin/env python3
"""KD training-step overhead: KD step time / CE step time and KD peak memory / CE peak memory.

Usage: bench/kd_overhead.py [options]
 e.g.: bench/kd_overhead.py                       # quick CPU default (~1 min)
       bench/kd_overhead.py --head-hidden 0 --tag cpu-plain-heads   # 512->V heads
       bench/kd_overhead.py --device cuda --hidden 1024 --batch 64 --tag cuda-large

One synthetic batch, one TDNN (kaldi_kd.am.model), measured side by side in one process:
  CE step = forward + frame CE (CEObjective) + backward + Adam step of the model alone;
  KD step = the same model plus three auxiliary heads (monophone, and senone / subword
            with a 128-wide bottleneck as the synth recipe's ablation has them)
            trained by KDObjective against three frozen bidirectional teachers
            (kaldi_kd.lm.models.UnitLM) through real SoftTargetEngines on synthetic
            Segments (teacher runs every step: the uncached worst case; "+cache" is the
            steady state after one epoch with SoftTargetEngine(cache=True)).
CE and KD steps alternate (same batch, same weights) and the ratio of the median step
times is reported: wall time on CUDA; on CPU the step thread's CPU time (one thread), which a
shared machine's other processes do not inflate (the wall-time ratio is reported beside it).  Goals (project issue): time ratio <= 1.10, memory ratio <= 1.2.

Memory: on CUDA, torch.cuda.max_memory_allocated() per variant (model + optimiser +
teachers + activations).  On CPU, each variant runs in a fresh child process and the
peak resident set size (VmHWM, reset first) minus the RSS before building the model is reported:
it counts everything the step allocates, including allocator slack, so it is an
honest but coarse figure.  Also reported: soft-target frames/s (all three teachers,
output frames per second) and a breakdown of where the extra KD time goes.
Writes bench/results/kd_overhead.json (merged per --tag) and kd_overhead.png.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import torch

from kaldi_kd.am.data import Batch
from kaldi_kd.am.model import HybridModel, ModelConfig, output_lengths, subsample_targets
from kaldi_kd.am.objective import CEObjective
from kaldi_kd.kd.objective import KDObjective
from kaldi_kd.kd.soft_targets import SoftTargetEngine
from kaldi_kd.lm.models import UnitLM
from kaldi_kd.lm.train import LMConfig
from kaldi_kd.units.segments import Segments

RESULTS = Path(__file__).parent / "results"


@dataclass
class OverheadConfig:
    """Every benchmark option with its default (the quick CPU default of ``make bench``).

    Attributes:
        num_pdfs: senones (main head and senone teacher vocabulary).
        vocab: teacher vocabulary per unit level (monophone / subword; senone = num_pdfs).
        layers: 1-based encoder layer of each auxiliary head.
        seg_len: mean segment length per unit level in input frames.
        head_hidden: bottleneck (ReLU hidden layer) width of the wide heads (senone,
            subword), as ``--aux-heads senone@4:256``; 0 = a plain projection.
    """

    device: str = "cpu"
    threads: int = 1
    hidden: int = 512
    num_layers: int = 6
    feat_dim: int = 40
    subsampling: int = 3
    num_pdfs: int = 2000
    vocab: Dict[str, int] = field(default_factory=lambda: {"monophone": 40, "subword": 500})
    layers: Dict[str, int] = field(default_factory=lambda: {"monophone": 2, "senone": 4, "subword": 5})
    seg_len: Dict[str, float] = field(default_factory=lambda: {"senone": 4.0, "monophone": 8.0, "subword": 20.0})
    head_hidden: int = 128
    batch: int = 8
    frames: int = 450
    tau: float = 2.0
    warmup: int = 2
    repeats: int = 5
    memory: bool = True
    seed: int = 0


# ---------------------------------------------------------------------------
# synthetic inputs

def synthetic_segments(n_utts: int, frames: int, seg_len: float, vocab: int, seed: int) -> Dict[str, Segments]:
    """Utterances u0..u{n-1} of ``frames`` input frames cut into Poisson-length segments."""
    rng = np.random.default_rng(seed)
    out = {}
    for i in range(n_utts):
        ends = np.cumsum(np.maximum(1, rng.poisson(seg_len, size=int(frames / seg_len) * 2 + 2)))
        ends = np.append(ends[ends < frames], frames)
        out[f"u{i}"] = Segments(rng.integers(0, vocab, len(ends)).astype(np.int32), ends.astype(np.int32))
    return out


def synthetic_batch(cfg: OverheadConfig) -> Batch:
    """A (B, T, F) batch of random features with random senone targets at the output rate."""
    g = torch.Generator().manual_seed(cfg.seed)
    lengths = torch.full((cfg.batch,), cfg.frames, dtype=torch.long)
    targets = torch.randint(0, cfg.num_pdfs, (cfg.batch, cfg.frames), generator=g)
    targets = subsample_targets(targets, cfg.subsampling)
    t_out = int(output_lengths(lengths, cfg.subsampling).max())
    targets = targets[:, :t_out]
    return Batch(torch.randn(cfg.batch, cfg.frames, cfg.feat_dim, generator=g), lengths, targets,
                 [f"u{i}" for i in range(cfg.batch)], torch.zeros(cfg.batch, dtype=torch.long),
                 torch.ones_like(targets, dtype=torch.bool))


def vocab_sizes(cfg: OverheadConfig) -> Dict[str, int]:
    return {"senone": cfg.num_pdfs, **cfg.vocab}


def build(cfg: OverheadConfig, kd: bool, cache: bool = False):
    """(model, objective, optimiser, engines) on cfg.device for the CE or the KD variant."""
    device = torch.device(cfg.device)
    torch.manual_seed(cfg.seed)
    model = HybridModel(ModelConfig(type="tdnn", input_dim=cfg.feat_dim, num_pdfs=cfg.num_pdfs,
                                    hidden_dim=cfg.hidden, num_layers=cfg.num_layers,
                                    subsampling=cfg.subsampling)).to(device)
    engines: Dict[str, SoftTargetEngine] = {}
    if kd:
        lm = LMConfig(kind="bidir")
        for i, (unit, v) in enumerate(vocab_sizes(cfg).items()):
            model.add_aux_head(unit, cfg.layers[unit], v, cfg.head_hidden if unit != "monophone" else 0)
            teacher = UnitLM(v, lm.model_config()).eval().requires_grad_(False).to(device)
            segs = synthetic_segments(cfg.batch, cfg.frames, cfg.seg_len[unit], v, cfg.seed + i)
            engines[unit] = SoftTargetEngine(teacher, segs, tau=cfg.tau, subsampling=cfg.subsampling, cache=cache)
        objective = KDObjective(engines, taus={u: cfg.tau for u in engines})
    else:
        objective = CEObjective()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    return model.train(), objective, opt, engines


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def step(model, objective, opt, batch) -> Tuple[float, float]:
    """One optimiser step; returns its (wall, this thread's CPU) time in seconds."""
    sync(batch.feats.device)
    t0, c0 = time.perf_counter(), time.thread_time()
    opt.zero_grad(set_to_none=True)
    loss, _ = objective(model, batch)
    loss.backward()
    opt.step()
    sync(batch.feats.device)
    return time.perf_counter() - t0, time.thread_time() - c0


# ---------------------------------------------------------------------------
# measurements

def step_times(cfg: OverheadConfig) -> Dict[str, object]:
    """Median step times of CE, KD and KD+cache, alternated on one batch, and a KD breakdown."""
    device = torch.device(cfg.device)
    batch = synthetic_batch(cfg).to(device)
    variants = {"ce": build(cfg, kd=False), "kd": build(cfg, kd=True), "kd_cache": build(cfg, kd=True, cache=True)}
    wall: Dict[str, List[float]] = {k: [] for k in variants}
    cpu: Dict[str, List[float]] = {k: [] for k in variants}
    for r in range(cfg.warmup + cfg.repeats):
        for name, (model, obj, opt, _) in variants.items():
            dt, dc = step(model, obj, opt, batch)
            if r >= cfg.warmup:
                wall[name].append(dt)
                cpu[name].append(dc)
    # On a (shared) CPU with one thread, the thread's CPU time measures the work without the
    # other processes' interference; on CUDA the wall time is the measure.
    times = wall if device.type == "cuda" else cpu
    med = {k: statistics.median(v) for k, v in times.items()}
    _, _, _, engines = variants["kd"]
    t_out = batch.targets.shape[1]
    st_times = {}
    for unit, eng in engines.items():
        dts = []
        clock = time.perf_counter if device.type == "cuda" else time.thread_time
        for _ in range(cfg.repeats):
            sync(device)
            t0 = clock()
            eng.targets(batch.utt_ids, batch.starts, t_out, device, lengths=None)
            sync(device)
            dts.append(clock() - t0)
        st_times[unit] = statistics.median(dts)
    frames = int(batch.mask.sum())
    soft_total = sum(st_times.values())
    extra = med["kd"] - med["ce"]
    return {
        "ce_step_s": med["ce"], "kd_step_s": med["kd"], "kd_cache_step_s": med["kd_cache"],
        "time_ratio": med["kd"] / med["ce"], "time_ratio_cache": med["kd_cache"] / med["ce"],
        "timing": "wall" if device.type == "cuda" else "thread CPU time (1 thread)",
        "step_times_s": times, "step_wall_s": wall,
        "wall_time_ratio": statistics.median(wall["kd"]) / statistics.median(wall["ce"]),
        "output_frames_per_batch": frames,
        "soft_target_s": st_times,
        "soft_target_frames_per_s": frames / soft_total,
        "soft_target_frames_per_s_per_teacher": {u: frames / t for u, t in st_times.items()},
        "breakdown_s": {"kd_minus_ce": extra, "soft_targets": soft_total,
                        "aux_heads_kl_backward": extra - soft_total},
    }


def _peak_child(cfg_dict: dict, kd: bool, queue) -> None:
    """Child process: peak memory (bytes) of a few steps of one variant."""
    cfg = OverheadConfig(**cfg_dict)
    torch.set_num_threads(cfg.threads)
    device = torch.device(cfg.device)
    batch = synthetic_batch(cfg)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    else:
        base = _rss_bytes()
    batch = batch.to(device)
    model, obj, opt, _ = build(cfg, kd=kd)
    for _ in range(2):
        step(model, obj, opt, batch)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) - base
    else:
        peak = _proc_status_bytes("VmHWM") - base
    queue.put(int(peak))


def _rss_bytes() -> int:
    """Current RSS, after resetting this process's peak-RSS mark (VmHWM) to it where Linux allows.

    ru_maxrss is no use here: Linux carries the parent's peak RSS across fork+exec into it.
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    return _proc_status_bytes("VmRSS")


def _proc_status_bytes(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field} (peak memory on CPU needs Linux)")


def peak_memory(cfg: OverheadConfig) -> Dict[str, object]:
    """Peak memory of CE and KD steps, each in a fresh process (spawned), and their ratio."""
    ctx = mp.get_context("spawn")
    out = {}
    for name, kd in (("ce", False), ("kd", True)):
        q = ctx.Queue()
        p = ctx.Process(target=_peak_child, args=(asdict(cfg), kd, q))
        p.start()
        out[name] = q.get(timeout=600)
        p.join()
    method = "cuda max_memory_allocated" if cfg.device.startswith("cuda") else "peak RSS (VmHWM, reset before building) - RSS before building, fresh process"
    return {"ce_peak_bytes": out["ce"], "kd_peak_bytes": out["kd"],
            "memory_ratio": out["kd"] / max(1, out["ce"]), "memory_method": method}


def measure(cfg: OverheadConfig) -> Dict[str, object]:
    """Run the benchmark; returns the JSON entry (config, device, times, ratios, memory)."""
    torch.set_num_threads(cfg.threads)
    device = torch.device(cfg.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or "cpu")
    entry: Dict[str, object] = {"device": name, "torch": torch.__version__, "config": asdict(cfg),
                                "teacher": {k: v for k, v in asdict(LMConfig(kind="bidir")).items()
                                            if k in ("kind", "d_model", "n_heads", "n_layers", "d_ff")}}
    entry.update(step_times(cfg))
    if cfg.memory:
        entry.update(peak_memory(cfg))
    entry["goals"] = {"time_ratio": 1.10, "memory_ratio": 1.2}
    return entry


def plot(data: Dict[str, dict], png: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    tags = list(data)
    x = np.arange(len(tags))
    fig, ax = plt.subplots(figsize=(max(5, 1.8 * len(tags)), 3.5))
    keys = [("time_ratio", "time KD/CE"), ("time_ratio_cache", "time KD+cache/CE"), ("memory_ratio", "memory KD/CE")]
    for i, (k, label) in enumerate(keys):
        ax.bar(x + (i - 1) * 0.27, [data[t].get(k, float("nan")) for t in tags], 0.27, label=label)
    ax.axhline(1.10, color="k", ls="--", lw=0.8)
    ax.axhline(1.2, color="gray", ls=":", lw=0.8)
    ax.set_xticks(x, tags)
    ax.set_ylabel("ratio (goal: time <= 1.10, memory <= 1.2)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def main() -> None:
    d = OverheadConfig()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default=d.device)
    p.add_argument("--threads", type=int, default=d.threads)
    p.add_argument("--hidden", type=int, default=d.hidden)
    p.add_argument("--num-layers", type=int, default=d.num_layers)
    p.add_argument("--num-pdfs", type=int, default=d.num_pdfs)
    p.add_argument("--batch", type=int, default=d.batch)
    p.add_argument("--frames", type=int, default=d.frames, help="input frames per utterance")
    p.add_argument("--subsampling", type=int, default=d.subsampling)
    p.add_argument("--repeats", type=int, default=d.repeats)
    p.add_argument("--head-hidden", type=int, default=d.head_hidden,
                   help="bottleneck width of the senone and subword aux heads (0: plain projection)")
    p.add_argument("--no-memory", action="store_true", help="skip the (child-process) memory measurement")
    p.add_argument("--tag", default="", help="key in the JSON (default: device type)")
    p.add_argument("--out", default=str(RESULTS / "kd_overhead.json"))
    a = p.parse_args()
    cfg = OverheadConfig(device=a.device, threads=a.threads, hidden=a.hidden, num_layers=a.num_layers,
                         num_pdfs=a.num_pdfs, batch=a.batch, frames=a.frames, subsampling=a.subsampling,
                         repeats=a.repeats, head_hidden=a.head_hidden, memory=not a.no_memory)
    entry = measure(cfg)
    print(f"{entry['device']}: CE {1000 * entry['ce_step_s']:.0f} ms/step, KD {1000 * entry['kd_step_s']:.0f} ms "
          f"(x{entry['time_ratio']:.3f}), KD+cache {1000 * entry['kd_cache_step_s']:.0f} ms "
          f"(x{entry['time_ratio_cache']:.3f}); soft targets {entry['soft_target_frames_per_s']:.0f} frames/s; "
          f"memory x{entry.get('memory_ratio', float('nan')):.3f}")
    print("breakdown (s):", {k: round(v, 4) for k, v in entry["breakdown_s"].items()})
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(out.read_text()) if out.exists() else {}
    data[a.tag or torch.device(a.device).type] = entry
    out.write_text(json.dumps(data, indent=1) + "\n")
    plot(data, out.with_suffix(".png"))
    print(f"wrote {out} and {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
