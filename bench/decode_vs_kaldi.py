#!/usr/bin/env python3
"""Our lattice decoder against Kaldi's latgen-faster-mapped: same loglikes, graph, model, beams.

Usage: bench/decode_vs_kaldi.py [--system NAME[@N]=GRAPH_DIR,LOGLIKE_DIR,DATA_DIR[,MODEL]]...
                                [--beam 11] [--lattice-beam 6] [--max-active 7000] [--acwt 0.1]
                                [--max-utts N] [--parallel-nj 2] [--out bench/results]
 e.g.: KALDI_ROOT=/root/kaldi bench/decode_vs_kaldi.py \\
         --system digits=egs/digits/s5/exp/tri1/graph,egs/digits/s5/exp/tdnn_ce/loglikes_test,egs/digits/s5/data/test

NAME@N decodes the first N utterances only.  Without --system, the digits recipe's
outputs (egs/digits/s5: exp/tri1/graph, exp/tdnn_ce/loglikes_test, data/test) and the
synth recipe's (egs/synth/s5, or $SYNTH_S5: exp/tri1/graph, exp/kd/ce_seed1/loglikes_test,
data/test; its first 12 test utterances, 40 s) are used where they exist.  Each system's
loglikes (loglikes.N.ark or .scp) are gathered into one archive; then, one thread each:

* ours in-process (``MappedDecoder``, binary lat.gz written as a decode job does):
  CPU seconds of the decode loop, split into search and determinization (thread CPU
  time of each call), and the graph read;
* ours as a whole process (``steps_py/decode.py --nj 1``): CPU time of the child
  processes (rusage), i.e. with Python start-up, reading loglikes and graph;
* Kaldi (when ``KALDI_ROOT`` is set): ``latgen-faster-mapped`` with the same options,
  CPU time of the process (rusage); its two halves timed apart: the search (again with
  ``--determinize-lattice=false``, raw lattices written to a file) and
  ``lattice-determinize-phone-pruned`` on those raw lattices (both include the raw
  lattices' I/O);
* ``--parallel-nj N``: wall time of ``steps_py/decode.py --nj N`` (ours) and of N
  latgen-faster-mapped processes at once (Kaldi), each on 1/N of the utterances;
* ``--baseline DIR``: the same decode stage run from another checkout (e.g. a worktree
  of the code before a change), CPU and wall.

Scoring, for both lattice sets: WER (words, no word insertion penalty) at each LMWT
of 7..17 and the best; the 1-best at LMWT 10 (= 1 / acoustic scale) compared per
utterance (words, and transition-id alignments); lattice sizes (arcs per frame,
states); and, with Kaldi, each set's oracle WER from Kaldi's ``lattice-oracle``.
RTF = CPU seconds / audio seconds (10 ms frames).  The machine may be shared: CPU
times are the measure; wall times are reported as seen.  Writes
``<out>/decode_vs_kaldi.json`` and ``<out>/decode_vs_kaldi.png``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kaldi_kd.kaldi.wheels import kaldi_hmm_gmm  # noqa: E402,F401  (import order)
from kaldi_kd.decode.decoder import DecoderConfig, MappedDecoder, read_graph  # noqa: E402
from kaldi_kd.decode.lattice import CompactLattice, best_path, topological_order  # noqa: E402
from kaldi_kd.decode.lattice_io import (  # noqa: E402
    compact_lattice_from_text, read_compact_lattices, write_compact_lattice_entry,
)
from kaldi_kd.decode.stage import find_trans_model  # noqa: E402
from kaldi_kd.score.score_dir import read_kaldi_text, read_words  # noqa: E402
from kaldi_kd.score.wer import ErrorCounts, count_errors  # noqa: E402

LMWTS = list(range(7, 18))


@dataclass
class System:
    name: str
    graph_dir: Path
    loglike_dir: Path
    data_dir: Path
    model: Path
    max_utts: Optional[int] = None


def default_systems() -> List[System]:
    digits = ROOT / "egs" / "digits" / "s5"
    synth = Path(os.environ.get("SYNTH_S5", ROOT / "egs" / "synth" / "s5"))
    cands = [("digits", digits, "exp/tdnn_ce/loglikes_test", None),
             ("synth", synth, "exp/kd/ce_seed1/loglikes_test", 12)]
    out = []
    for name, s5, ll, n in cands:
        graph, lld, data = s5 / "exp" / "tri1" / "graph", s5 / ll, s5 / "data" / "test"
        if (graph / "HCLG.fst").is_file() and lld.is_dir() and (data / "text").is_file():
            out.append(System(name, graph, lld, data, model_for(graph, lld), n))
    return out


def model_for(graph_dir: Path, loglike_dir: Path) -> Path:
    return find_trans_model([loglike_dir / "final.mdl", loglike_dir.parent / "final.mdl",
                             graph_dir.parent / "final.mdl"])


def parse_system(spec: str) -> System:
    name, _, rest = spec.partition("=")
    parts = rest.split(",")
    if len(parts) not in (3, 4):
        raise SystemExit(f"--system {spec!r}: expected NAME[@N]=GRAPH_DIR,LOGLIKE_DIR,DATA_DIR[,MODEL]")
    name, _, n = name.partition("@")
    graph, lld, data = (Path(p) for p in parts[:3])
    model = Path(parts[3]) if len(parts) == 4 else model_for(graph, lld)
    return System(name, graph, lld, data, model, int(n) if n else None)


# ------------------------------------------------------------------------- inputs

def gather_loglikes(system: System, max_utts: Optional[int]) -> List[Tuple[str, np.ndarray]]:
    """Every utterance's loglikes, in the order of the splits."""
    from kaldi_kd.data.tables import read_table

    arks = sorted(system.loglike_dir.glob("loglikes.*.ark"), key=lambda p: int(p.name.split(".")[1]))
    items: List[Tuple[str, np.ndarray]] = []
    for ark in arks:
        items.extend(read_table(ark))
    if not arks:
        items = list(read_table(system.loglike_dir / "loglikes.scp"))
    return items[:max_utts] if max_utts else items


def write_ark(path: Path, items: Sequence[Tuple[str, np.ndarray]]) -> None:
    from kaldi_kd.data.tables import write_table

    write_table(path, items)


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_timed(cmd, env=None, shell=False, check=True) -> Tuple[float, float, str]:
    """(CPU seconds of the children, wall seconds, stderr) of one command; raises on failure
    when ``check``."""
    c0, t0 = children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, shell=shell)
    wall, cpu = time.perf_counter() - t0, children_cpu() - c0
    if check and proc.returncode != 0:
        raise RuntimeError(f"{cmd if shell else ' '.join(map(str, cmd))} failed:\n{proc.stderr[-3000:]}")
    return cpu, wall, proc.stderr


# ------------------------------------------------------------------------- ours

def decode_ours(system: System, items, cfg: DecoderConfig, out_gz: Path, out_txt: Path) -> Dict:
    """In-process decode of every utterance; lattices to out_gz (as a job writes them) and,
    untimed, to out_txt (Kaldi's text form, for Kaldi's tools)."""
    from kaldi_kd.gmm.model_io import read_transition_model

    c0 = time.process_time()
    graph = read_graph(system.graph_dir / "HCLG.fst")
    graph_cpu = time.process_time() - c0
    dec = MappedDecoder(graph, read_transition_model(system.model), cfg)
    results = {}
    search = det = 0.0
    c0, t0 = time.process_time(), time.perf_counter()
    with gzip.open(out_gz, "wb") as f:
        for utt, ll in items:
            res = dec.decode(ll, utt)
            write_compact_lattice_entry(f, utt, res.lattice)
            search += res.info["search_s"]
            det += res.info["determinize_s"]
            results[utt] = res
    loop_cpu, loop_wall = time.process_time() - c0, time.perf_counter() - t0
    with open(out_txt, "wb") as f:
        for utt, res in results.items():
            write_compact_lattice_entry(f, utt, res.lattice, binary=False)
    return {"graph_read_cpu_s": graph_cpu, "graph_kind": graph.kind, "graph_mapped": graph.mapped,
            "loop_cpu_s": loop_cpu, "loop_wall_s": loop_wall, "search_cpu_s": search,
            "determinize_cpu_s": det, "partial": sum(r.partial for r in results.values()),
            "raw_arcs_per_frame": sum(r.info["raw_arcs"] for r in results.values()) / frames_of(items),
            "lattices": {u: r.lattice for u, r in results.items()},
            "alignments": {u: r.alignment for u, r in results.items()}}


def ours_process(system: System, ark: Path, cfg: DecoderConfig, work: Path, nj: int,
                 checkout: Path = ROOT) -> Tuple[float, float]:
    """(children CPU, wall) of <checkout>/steps_py/decode.py --nj nj on the loglikes split nj ways."""
    lld = work / f"loglikes_nj{nj}"
    ddir = work / f"decode_{checkout.name}_nj{nj}"
    if not lld.exists():
        lld.mkdir()
        from kaldi_kd.data.tables import read_table

        items = list(read_table(ark))
        for j in range(nj):
            write_ark(lld / f"loglikes.{j + 1}.ark", items[j::nj])
    shutil.rmtree(ddir, ignore_errors=True)
    cmd = [sys.executable, str(checkout / "steps_py" / "decode.py"), "--nj", str(nj), "--skip-scoring",
           "--beam", str(cfg.beam), "--lattice-beam", str(cfg.lattice_beam),
           "--max-active", str(cfg.max_active), "--min-active", str(cfg.min_active),
           "--acwt", str(cfg.acoustic_scale), "--trans-model", str(system.model),
           str(system.graph_dir), str(system.data_dir), str(lld), str(ddir)]
    env = dict(os.environ, PYTHONPATH=str(checkout), OMP_NUM_THREADS="1")
    cpu, wall, _ = run_timed(cmd, env=env)
    return cpu, wall


# ------------------------------------------------------------------------- Kaldi

def kaldi_bin(kaldi_root: Path, name: str) -> str:
    for sub in ("bin", "latbin", "fstbin"):
        p = kaldi_root / "src" / sub / name
        if p.is_file():
            return str(p)
    raise FileNotFoundError(f"{name} not found under {kaldi_root}/src")


def latgen_cmd(kaldi_root: Path, system: System, cfg: DecoderConfig, ark: str, out: str,
               determinize: bool = True) -> List[str]:
    return [kaldi_bin(kaldi_root, "latgen-faster-mapped"), f"--beam={cfg.beam:g}",
            f"--lattice-beam={cfg.lattice_beam:g}", f"--max-active={cfg.max_active}",
            f"--min-active={cfg.min_active}", f"--acoustic-scale={cfg.acoustic_scale:g}",
            "--allow-partial=true", f"--determinize-lattice={'true' if determinize else 'false'}",
            str(system.model), str(system.graph_dir / "HCLG.fst"), ark, out]


def decode_kaldi(kaldi_root: Path, system: System, cfg: DecoderConfig, ark: Path, work: Path) -> Dict:
    """latgen-faster-mapped as a recipe runs it, then its two halves apart: the search
    (--determinize-lattice=false, raw lattices to a file) and lattice-determinize-phone-pruned
    on those raw lattices (what latgen does after the search)."""
    lat, raw = work / "kaldi_lat.gz", work / "kaldi_raw.ark"
    cpu, wall, log = run_timed(latgen_cmd(kaldi_root, system, cfg, f"ark:{ark}", f"ark:|gzip -c > {lat}"))
    raw_cpu, _, _ = run_timed(latgen_cmd(kaldi_root, system, cfg, f"ark:{ark}", f"ark:{raw}", determinize=False))
    det_cpu, _, _ = run_timed([kaldi_bin(kaldi_root, "lattice-determinize-phone-pruned"),
                               f"--acoustic-scale={cfg.acoustic_scale:g}", f"--beam={cfg.lattice_beam:g}",
                               str(system.model), f"ark:{raw}", "ark:/dev/null"])
    # graph and model read alone: latgen on zero utterances (it then exits with status 1)
    empty = work / "empty.ark"
    empty.write_bytes(b"")
    init_cpu, _, _ = run_timed(latgen_cmd(kaldi_root, system, cfg, f"ark:{empty}", "ark:/dev/null"), check=False)
    txt = subprocess.run(f"{kaldi_bin(kaldi_root, 'lattice-copy')} 'ark:gunzip -c {lat}|' ark,t:-",
                         shell=True, capture_output=True, check=True).stdout.decode()
    lattices = parse_text_lattices(txt)
    return {"cpu_s": cpu, "wall_s": wall, "search_only_cpu_s": raw_cpu, "init_cpu_s": init_cpu,
            "determinize_cpu_s": det_cpu, "log_tail": log[-600:], "lattices": lattices, "lat_gz": str(lat)}


def parse_text_lattices(text: str) -> Dict[str, CompactLattice]:
    out = {}
    for block in text.split("\n\n"):
        lines = [ln for ln in block.splitlines() if ln.strip()]
        if lines:
            out[lines[0].split()[0]] = compact_lattice_from_text(lines[1:])
    return out


def kaldi_parallel(kaldi_root: Path, system: System, cfg: DecoderConfig, ark: Path, work: Path, nj: int) -> float:
    """Wall seconds of nj latgen-faster-mapped processes at once, each on 1/nj of the utterances."""
    lld = work / f"loglikes_nj{nj}"
    procs, t0 = [], time.perf_counter()
    for j in range(nj):
        cmd = latgen_cmd(kaldi_root, system, cfg, f"ark:{lld / f'loglikes.{j + 1}.ark'}",
                         f"ark:|gzip -c > {work / f'kaldi_lat_nj{nj}.{j + 1}.gz'}")
        procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    if any(p.wait() != 0 for p in procs):
        raise RuntimeError("parallel latgen-faster-mapped failed")
    return time.perf_counter() - t0


def oracle_wer(kaldi_root: Path, lat_spec: str, system: System, work: Path, tag: str) -> Optional[float]:
    """Kaldi's lattice-oracle %WER of a lattice archive against data/text."""
    words = {w: i for i, w in enumerate(read_words(system.graph_dir))}
    oov = words.get("<UNK>", 0)
    ref = work / f"ref_{tag}.int"
    ref.write_text("".join(f"{u} {' '.join(str(words.get(w, oov)) for w in t.split())}\n"
                           for u, t in read_kaldi_text(system.data_dir / "text").items()))
    proc = subprocess.run([kaldi_bin(kaldi_root, "lattice-oracle"), lat_spec, f"ark:{ref}", "ark:/dev/null"],
                          capture_output=True, text=True)
    for line in proc.stderr.splitlines():
        if "Overall %WER" in line:
            return float(line.split("Overall %WER")[1].split()[0])
    return None


# ------------------------------------------------------------------------- scoring

def frames_of(items) -> int:
    return sum(ll.shape[0] for _, ll in items)


def wer_by_lmwt(lattices: Dict[str, CompactLattice], refs: Dict[str, str], id2word) -> Dict[int, ErrorCounts]:
    out = {}
    orders = {u: topological_order(c.arcs, c.start) for u, c in lattices.items()}
    for lmwt in LMWTS:
        total = ErrorCounts()
        for utt, ref in refs.items():
            clat = lattices.get(utt)
            bp = None if clat is None else best_path(clat, acoustic_scale=1.0 / lmwt, order=orders[utt])
            hyp = [] if bp is None else [id2word[w] for w in bp.words]
            total = total + count_errors(ref.split(), hyp)
        out[lmwt] = total
    return out


def lattice_sizes(lattices: Dict[str, CompactLattice], frames: int) -> Dict[str, float]:
    n = max(len(lattices), 1)
    return {"states_mean": sum(c.num_states for c in lattices.values()) / n,
            "arcs_mean": sum(c.num_arcs for c in lattices.values()) / n,
            "arcs_per_frame": sum(c.num_arcs for c in lattices.values()) / max(frames, 1)}


def one_best_agreement(ours: Dict[str, CompactLattice], theirs: Dict[str, CompactLattice],
                       acwt: float) -> Dict[str, float]:
    words = ali = 0
    cost_diff = []
    for utt, c in ours.items():
        a, b = best_path(c, acoustic_scale=acwt), best_path(theirs[utt], acoustic_scale=acwt)
        words += a.words == b.words
        ali += a.alignment == b.alignment
        cost_diff.append(abs((a.graph_cost + acwt * a.acoustic_cost) - (b.graph_cost + acwt * b.acoustic_cost)))
    return {"utts": len(ours), "same_words": words, "same_alignment": ali,
            "max_abs_cost_diff": float(max(cost_diff)) if cost_diff else 0.0}


def word_sequence_agreement(ours: Dict[str, CompactLattice], theirs: Dict[str, CompactLattice],
                            limit: int = 20000) -> Dict[str, float]:
    """How many utterances' lattices hold exactly the same word sequences (small lattices only)."""
    from kaldi_kd.decode.lattice import LatticeError, lattice_word_sequences

    same = compared = 0
    for utt, c in ours.items():
        try:
            a, b = lattice_word_sequences(c, limit), lattice_word_sequences(theirs[utt], limit)
        except LatticeError:
            continue
        compared += 1
        same += set(a) == set(b)
    return {"compared": compared, "same_word_sequences": same}


# ------------------------------------------------------------------------- main

def bench_system(system: System, cfg: DecoderConfig, kaldi_root: Optional[Path], max_utts: Optional[int],
                 parallel_nj: int, work: Path, baseline: Optional[Path] = None) -> Dict:
    items = gather_loglikes(system, system.max_utts or max_utts)
    frames = frames_of(items)
    audio = frames * 0.01
    ark = work / "loglikes.ark"
    write_ark(ark, items)
    refs = {u: t for u, t in read_kaldi_text(system.data_dir / "text").items() if u in dict(items)}
    id2word = read_words(system.graph_dir)
    row: Dict = {"system": system.name, "graph": str(system.graph_dir / "HCLG.fst"),
                 "graph_mb": (system.graph_dir / "HCLG.fst").stat().st_size / 2**20,
                 "loglikes": str(system.loglike_dir), "utts": len(items), "frames": frames,
                 "audio_s": audio}
    print(f"== {system.name}: {len(items)} utterances, {audio:.1f} s of audio", flush=True)

    ours = decode_ours(system, items, cfg, work / "ours_lat.gz", work / "ours_lat.txt")
    wer = wer_by_lmwt(ours["lattices"], refs, id2word)
    best = min(wer, key=lambda k: (wer[k].errors, k))
    proc_cpu, proc_wall = ours_process(system, ark, cfg, work, 1)
    row["ours"] = {k: v for k, v in ours.items() if k not in ("lattices", "alignments")}
    row["ours"].update({"rtf_loop_cpu": ours["loop_cpu_s"] / audio, "rtf_search_cpu": ours["search_cpu_s"] / audio,
                        "rtf_determinize_cpu": ours["determinize_cpu_s"] / audio,
                        "process_cpu_s": proc_cpu, "process_wall_s": proc_wall, "rtf_process_cpu": proc_cpu / audio,
                        "lattice": lattice_sizes(ours["lattices"], frames),
                        "wer_by_lmwt": {k: v.wer for k, v in wer.items()}, "best_lmwt": best,
                        "best_wer": wer[best].wer, "best_wer_line": wer[best].kaldi_line()})
    print(f"ours: loop CPU {ours['loop_cpu_s']:.2f} s (search {ours['search_cpu_s']:.2f}, determinization "
          f"{ours['determinize_cpu_s']:.2f}), process CPU {proc_cpu:.2f} s; best {wer[best].kaldi_line()} "
          f"at LMWT {best}", flush=True)
    if parallel_nj > 1:
        _, wall = ours_process(system, ark, cfg, work, parallel_nj)
        row["ours"][f"wall_nj{parallel_nj}_s"] = wall
    if baseline is not None:
        # the same decode stage with another checkout (e.g. the code before a change)
        cpu, wall = ours_process(system, ark, cfg, work, 1, baseline)
        row["baseline"] = {"checkout": str(baseline), "process_cpu_s": cpu, "process_wall_s": wall,
                           "rtf_process_cpu": cpu / audio}
        if parallel_nj > 1:
            row["baseline"][f"wall_nj{parallel_nj}_s"] = ours_process(system, ark, cfg, work, parallel_nj, baseline)[1]
        print(f"baseline {baseline}: process CPU {cpu:.2f} s", flush=True)
    if kaldi_root is None:
        return row
    k = decode_kaldi(kaldi_root, system, cfg, ark, work)
    kwer = wer_by_lmwt(k["lattices"], refs, id2word)
    kbest = min(kwer, key=lambda x: (kwer[x].errors, x))
    row["kaldi"] = {"cpu_s": k["cpu_s"], "wall_s": k["wall_s"], "init_cpu_s": k["init_cpu_s"],
                    "search_only_cpu_s": k["search_only_cpu_s"], "determinize_cpu_s": k["determinize_cpu_s"],
                    "rtf_cpu": k["cpu_s"] / audio, "rtf_search_cpu": k["search_only_cpu_s"] / audio,
                    "rtf_determinize_cpu": k["determinize_cpu_s"] / audio,
                    "lattice": lattice_sizes(k["lattices"], frames),
                    "wer_by_lmwt": {x: v.wer for x, v in kwer.items()}, "best_lmwt": kbest,
                    "best_wer": kwer[kbest].wer, "best_wer_line": kwer[kbest].kaldi_line(),
                    "log_tail": k["log_tail"]}
    if parallel_nj > 1:
        row["kaldi"][f"wall_nj{parallel_nj}_s"] = kaldi_parallel(kaldi_root, system, cfg, ark, work, parallel_nj)
    row["ours"]["oracle_wer"] = oracle_wer(kaldi_root, f"ark:{work / 'ours_lat.txt'}", system, work, "ours")
    row["kaldi"]["oracle_wer"] = oracle_wer(kaldi_root, f"ark:gunzip -c {k['lat_gz']}|", system, work, "kaldi")
    row["one_best_lmwt10"] = one_best_agreement(ours["lattices"], k["lattices"], cfg.acoustic_scale)
    row["word_sequences"] = word_sequence_agreement(ours["lattices"], k["lattices"])
    row["same_wer_every_lmwt"] = all(wer[x].errors == kwer[x].errors for x in LMWTS)
    # the ratios: whole process against whole process, and our decode loop against Kaldi's
    # process minus its graph/model read
    row["ratio_process_cpu"] = proc_cpu / k["cpu_s"]
    row["ratio_decode_cpu"] = ours["loop_cpu_s"] / max(k["cpu_s"] - k["init_cpu_s"], 1e-9)
    print(f"kaldi: CPU {k['cpu_s']:.2f} s (of which init {k['init_cpu_s']:.2f}; search-only run "
          f"{k['search_only_cpu_s']:.2f}); best {kwer[kbest].kaldi_line()} at LMWT {kbest}; ratio process "
          f"{row['ratio_process_cpu']:.2f}, decode {row['ratio_decode_cpu']:.2f}; 1-best "
          f"{row['one_best_lmwt10']}", flush=True)
    return row


def plot(rows: List[Dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(rows), figsize=(4.8 * len(rows), 3.8), squeeze=False)
    for ax, r in zip(axes[0], rows):
        o = r["ours"]
        # (label, search, determinization, other or whole)
        bars = [("ours\ndecode loop", o["rtf_search_cpu"], o["rtf_determinize_cpu"],
                 o["rtf_loop_cpu"] - o["rtf_search_cpu"] - o["rtf_determinize_cpu"]),
                ("ours\nprocess", 0, 0, o["rtf_process_cpu"])]
        if "kaldi" in r:
            k = r["kaldi"]
            bars += [("Kaldi\nprocess", 0, 0, k["rtf_cpu"]),
                     ("Kaldi halves\n(with raw I/O)", k["rtf_search_cpu"], k["rtf_determinize_cpu"], 0)]
        if "baseline" in r:
            bars.append(("before\nprocess", 0, 0, r["baseline"]["rtf_process_cpu"]))
        x = np.arange(len(bars))
        search, det, other = (np.array([b[i] for b in bars]) for i in (1, 2, 3))
        ax.bar(x, search, label="search")
        ax.bar(x, det, bottom=search, label="determinization")
        ax.bar(x, other, bottom=search + det, label="rest / whole process")
        ax.set_xticks(x, [b[0] for b in bars], fontsize=7)
        ax.set_ylabel("RTF (CPU s / audio s)")
        if "baseline" in r and r["baseline"]["rtf_process_cpu"] > 4 * max(search + det + other):
            ax.set_yscale("log")
        title = f"{r['system']}: {r['utts']} utts, {r['audio_s']:.0f} s, HCLG {r['graph_mb']:.1f} MB"
        if "ratio_process_cpu" in r:
            title += f"\nours/Kaldi CPU: {r['ratio_process_cpu']:.2f} (process), {r['ratio_decode_cpu']:.2f} (decode)"
        ax.set_title(title, fontsize=8)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--system", action="append", default=[], help="NAME=GRAPH_DIR,LOGLIKE_DIR,DATA_DIR[,MODEL]")
    p.add_argument("--beam", type=float, default=11.0)
    p.add_argument("--lattice-beam", type=float, default=6.0)
    p.add_argument("--max-active", type=int, default=7000)
    p.add_argument("--min-active", type=int, default=200)
    p.add_argument("--acwt", type=float, default=0.1)
    p.add_argument("--max-utts", type=int, default=0, help="first N utterances only (0: all)")
    p.add_argument("--parallel-nj", type=int, default=2, help="also time N jobs at once (1: skip)")
    p.add_argument("--baseline", default="", help="another checkout whose steps_py/decode.py is timed too "
                   "(e.g. a worktree of the code before a change)")
    p.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = p.parse_args()
    systems = [parse_system(s) for s in args.system] or default_systems()
    if not systems:  # `make bench` on a fresh clone: nothing decoded yet
        print("decode_vs_kaldi: skipped, no system found (run egs/digits/s5/run.sh --stop-stage 7, "
              "or pass --system)", file=sys.stderr)
        return 0
    kaldi_root = Path(os.environ["KALDI_ROOT"]) if os.environ.get("KALDI_ROOT") else None
    cfg = DecoderConfig(beam=args.beam, lattice_beam=args.lattice_beam, max_active=args.max_active,
                        min_active=args.min_active, acoustic_scale=args.acwt)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    rows = []
    for system in systems:
        with tempfile.TemporaryDirectory() as tmp:
            rows.append(bench_system(system, cfg, kaldi_root, args.max_utts or None, args.parallel_nj, Path(tmp),
                                     Path(args.baseline).resolve() if args.baseline else None))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {"options": {"beam": cfg.beam, "lattice_beam": cfg.lattice_beam, "max_active": cfg.max_active,
                          "min_active": cfg.min_active, "acoustic_scale": cfg.acoustic_scale},
              "kaldi": str(kaldi_root) if kaldi_root else None, "machine": platform.machine(),
              "cpus": os.cpu_count(), "load_avg_at_end": os.getloadavg(),
              "timing": "CPU seconds (rusage / process_time); wall seconds as seen on a shared machine",
              "systems": rows}
    (out / "decode_vs_kaldi.json").write_text(json.dumps(result, indent=1) + "\n")
    plot(rows, out / "decode_vs_kaldi.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
