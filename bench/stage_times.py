#!/usr/bin/env python3
"""Per-stage wall times of the synth recipe (egs/synth/s5/run.sh), one series per recorded run.

Usage: bench/stage_times.py [--tsv egs/synth/s5/exp/stage_times.tsv --run NAME --note TEXT] [--out JSON]
 e.g.: bench/stage_times.py                 # re-plot the committed JSON (no recipe run needed)
       bench/stage_times.py --tsv egs/synth/s5/exp/stage_times.tsv --run full_5h --note "./run.sh --nj 2"

run.sh appends "<stage> <name> <seconds> <hours> <conf>" to exp/stage_times.tsv as each stage
finishes.  With --tsv the times (last line per stage wins) are stored in
bench/results/stage_times.json under "runs"/NAME with their total and the note; other
runs already in the JSON are kept.  Without --tsv the committed JSON is only re-plotted.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Dict

RESULTS = Path(__file__).parent / "results"


def read_tsv(path: Path) -> Dict[str, dict]:
    """Stage number -> {name, seconds, hours, conf}; the last line of a stage wins."""
    out: Dict[str, dict] = {}
    with open(path) as f:
        for lineno, row in enumerate(csv.reader(f, delimiter="\t"), 1):
            if len(row) < 3:
                raise ValueError(f"{path}:{lineno}: expected <stage> <name> <seconds> ..., got {row}")
            try:
                seconds = float(row[2])
            except ValueError:
                raise ValueError(f"{path}:{lineno}: seconds '{row[2]}' is not a number") from None
            out[row[0]] = {"name": row[1], "seconds": seconds,
                           "hours": float(row[3]) if len(row) > 3 and row[3] else None,
                           "conf": row[4] if len(row) > 4 else ""}
    return dict(sorted(out.items(), key=lambda kv: int(kv[0])))


def plot(runs: Dict[str, dict], png: Path) -> None:
    """Grouped bars: minutes per stage, one bar per run."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    stages: Dict[str, str] = {}
    for run in runs.values():
        for k, v in run["stages"].items():
            stages.setdefault(k, v["name"])
    keys = sorted(stages, key=int)
    fig, ax = plt.subplots(figsize=(8, 3.5))
    width = 0.8 / max(1, len(runs))
    for j, (name, run) in enumerate(runs.items()):
        xs = [i - 0.4 + width * (j + 0.5) for i in range(len(keys))]
        ys = [run["stages"].get(k, {}).get("seconds", 0) / 60 for k in keys]
        ax.bar(xs, ys, width, label=f"{name} ({run['total_s'] / 60:.0f} min)")
    ax.set_xticks(range(len(keys)), [f"{k} {stages[k]}" for k in keys], rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("minutes (wall)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tsv", default=None, help="exp/stage_times.tsv written by run.sh")
    p.add_argument("--run", default="full_5h", help="name of this run in the JSON")
    p.add_argument("--note", default="", help="what was run (options, machine), stored with the times")
    p.add_argument("--out", default=str(RESULTS / "stage_times.json"))
    a = p.parse_args()
    out = Path(a.out)
    data = json.loads(out.read_text()) if out.exists() else {}
    runs = data.setdefault("runs", {})
    if a.tsv:
        stages = read_tsv(Path(a.tsv))
        runs[a.run] = {"note": a.note, "stages": stages, "total_s": sum(v["seconds"] for v in stages.values())}
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(data, indent=1) + "\n")
    if not runs:
        print(f"{out} has no runs; run egs/synth/s5/run.sh and pass --tsv")
        return
    for name, run in runs.items():
        print(f"{name}: {run['total_s'] / 60:.1f} min  ({run['note']})")
        for k, v in run["stages"].items():
            print(f"  stage {k:>2} {v['name']:18s} {v['seconds']:8.1f} s")
    plot(runs, out.with_suffix(".png"))
    print(f"wrote {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
