#!/usr/bin/env python3
"""Per-stage wall times of the synth recipe (egs/synth/s5/run.sh) and a full-size extrapolation.

Usage: bench/stage_times.py [--tsv egs/synth/s5/exp/stage_times.tsv] [--out JSON]
 e.g.: bench/stage_times.py                 # re-plot the committed JSON (no recipe run needed)
       bench/stage_times.py --tsv egs/synth/s5/exp/stage_times.tsv --measured-hours 0.1

run.sh appends "<stage> <name> <seconds> <hours> <conf>" to exp/stage_times.tsv as each stage
finishes.  With --tsv the measured times go into bench/results/stage_times.json (last entry
per stage wins); the JSON's "extrapolated" block (written by hand from the scaling notes in
egs/synth/s5/RESULTS.md) is kept.  Without --tsv the committed JSON is only re-plotted.
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
            out[row[0]] = {"name": row[1], "seconds": float(row[2]),
                           "hours": float(row[3]) if len(row) > 3 and row[3] else None,
                           "conf": row[4] if len(row) > 4 else ""}
    return dict(sorted(out.items(), key=lambda kv: int(kv[0])))


def plot(data: dict, png: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    meas = data.get("measured", {})
    ext = data.get("extrapolated", {}).get("stages", {})
    names = [f"{k} {v['name']}" for k, v in meas.items()]
    fig, ax = plt.subplots(figsize=(8, 3.5))
    x = range(len(names))
    ax.bar([i - 0.2 for i in x], [v["seconds"] / 60 for v in meas.values()], 0.4, label="measured (tiny)")
    if ext:
        ax.bar([i + 0.2 for i in x], [ext.get(k, {}).get("seconds", 0) / 60 for k in meas], 0.4,
               label="extrapolated (full size)")
    ax.set_xticks(list(x), names, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("minutes")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tsv", default=None, help="exp/stage_times.tsv written by run.sh")
    p.add_argument("--note", default="", help="what was run (options), stored with the times")
    p.add_argument("--out", default=str(RESULTS / "stage_times.json"))
    a = p.parse_args()
    out = Path(a.out)
    data = json.loads(out.read_text()) if out.exists() else {}
    if a.tsv:
        data["measured"] = read_tsv(Path(a.tsv))
        data["measured_total_s"] = sum(v["seconds"] for v in data["measured"].values())
        if a.note:
            data["measured_note"] = a.note
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(data, indent=1) + "\n")
    if not data:
        print(f"{out} does not exist; run egs/synth/s5/run.sh and pass --tsv")
        return
    for k, v in data.get("measured", {}).items():
        e = data.get("extrapolated", {}).get("stages", {}).get(k, {})
        print(f"stage {k:>2} {v['name']:18s} {v['seconds']:8.1f} s measured"
              + (f"   ~{e['seconds'] / 60:6.1f} min full size (extrapolated)" if e else ""))
    plot(data, out.with_suffix(".png"))
    print(f"wrote {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
