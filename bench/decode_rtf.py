#!/usr/bin/env python3
"""Real-time factor of lattice decoding versus beam on a digits HCLG.

Usage: bench/decode_rtf.py [--beams 8,10,13,16] [--num-utts 30] [--sep 8] [--noise 2] [--out bench/results]
 e.g.: bench/decode_rtf.py --num-utts 10

Builds a digits lang (CMU-style prons, 3-gram G on random digit strings) and a
monophone HCLG with the lang area's mkgraph code, makes synthetic log-likelihoods
for random digit strings (random state durations, the true pdf ``--sep`` above
the others, Gaussian noise), and decodes them at each beam with
``kaldi_kd.decode.MappedDecoder`` (compiled search + pruned determinization) and,
for reference, with the best-path-only LatticeFasterDecoder.  RTF = decode
seconds / audio seconds at a 10 ms frame shift (fastest of ``--repeats`` runs; the
search/determinization split is from the last run).  Writes
``<out>/decode_rtf.json`` and ``<out>/decode_rtf.png``.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kaldi_kd.kaldi.wheels import kaldi_hmm_gmm  # noqa: E402  (import order)
from kaldi_kd.decode.decoder import DecoderConfig, MappedDecoder, decode_best_path_faster  # noqa: E402
from kaldi_kd.score.wer import count_errors, total  # noqa: E402

DIGITS = "zero oh one two three four five six seven eight nine".split()
LEX = {"zero": ["Z IH R OW", "Z IY R OW"], "oh": ["OW"], "one": ["W AH N"], "two": ["T UW"],
       "three": ["TH R IY"], "four": ["F AO R"], "five": ["F AY V"], "six": ["S IH K S"],
       "seven": ["S EH V AH N"], "eight": ["EY T"], "nine": ["N AY N"]}


def build_digits_graph(tmp: Path):
    from kaldi_kd.decode.toy import build_lang_graph
    from kaldi_kd.gmm.fstutils import read_fst

    rng = random.Random(0)
    lines = [" ".join(rng.choice(DIGITS) for _ in range(rng.randint(1, 7))) for _ in range(500)]
    g = build_lang_graph(tmp, LEX, lines)
    lang, topo, ctx, tm = g.lang, g.topo, g.ctx_dep, g.trans_model
    return lang, topo, ctx, tm, read_fst(tmp / "graph" / "HCLG.fst")


def synthetic_utterance(lang, topo, ctx, tm, rng, sep, noise):
    lex = {}
    for row in (lang.dir / "phones" / "align_lexicon.txt").read_text().splitlines():
        f = row.split()
        lex.setdefault(f[0], f[2:])
    words = [DIGITS[i] for i in rng.integers(0, len(DIGITS), size=int(rng.integers(3, 8)))]
    pdfs = []
    for p in ["SIL"] + [p for w in words for p in lex[w]] + ["SIL"]:
        pid = lang.phones[p]
        for c in range(topo.num_pdf_classes(pid)):
            pdfs += [ctx.compute([pid], c)[1]] * int(rng.integers(3, 10))
    T = len(pdfs)
    ll = rng.normal(-sep - 1.0, noise, size=(T, tm.num_pdfs))
    ll[np.arange(T), pdfs] = rng.normal(-1.0, noise * 0.5, size=T)
    return words, ll.astype(np.float32)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--beams", default="8,10,13,16")
    p.add_argument("--lattice-beam", type=float, default=8.0)
    p.add_argument("--num-utts", type=int, default=30)
    p.add_argument("--sep", type=float, default=8.0)
    p.add_argument("--noise", type=float, default=2.0)
    p.add_argument("--repeats", type=int, default=2, help="timing repeats (fastest kept)")
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        lang, topo, ctx, tm, hclg = build_digits_graph(Path(tmp))
        utts = [synthetic_utterance(lang, topo, ctx, tm, rng, args.sep, args.noise)
                for _ in range(args.num_utts)]
    frames = sum(ll.shape[0] for _, ll in utts)
    audio_s = frames * 0.01
    rows = []
    for beam in [float(b) for b in args.beams.split(",")]:
        cfg = DecoderConfig(beam=beam, lattice_beam=args.lattice_beam)
        dec = MappedDecoder(hclg, tm, cfg)
        lat_s = fast_s = float("inf")
        for _ in range(args.repeats):  # the machine is shared: keep the fastest repeat
            t0 = time.perf_counter()
            res = [dec.decode(ll, f"u{i}") for i, (_, ll) in enumerate(utts)]
            lat_s = min(lat_s, time.perf_counter() - t0)
            t0 = time.perf_counter()
            ref = [decode_best_path_faster(hclg, tm, ll, cfg) for _, ll in utts]
            fast_s = min(fast_s, time.perf_counter() - t0)
        err = total(count_errors(w, [lang.word_names[x] for x in r.words]) for (w, _), r in zip(utts, res))
        same = sum(r.words == f.words for r, f in zip(res, ref))
        rows.append({"beam": beam, "rtf_lattice": lat_s / audio_s, "rtf_best_path": fast_s / audio_s,
                     "rtf_search": sum(r.info.get("search_s", r.seconds) for r in res) / audio_s,
                     "rtf_determinize": sum(r.info.get("determinize_s", 0.0) for r in res) / audio_s,
                     "raw_lattice_states_mean": float(np.mean([r.info.get("raw_states", 0) for r in res])),
                     "wer": err.wer, "errors": err.errors, "ref_words": err.ref_words,
                     "lattice_states_mean": float(np.mean([r.lattice.num_states for r in res])),
                     "partial": sum(r.partial for r in res), "wider_beam": sum(r.beam_used > beam for r in res),
                     "same_1best_as_faster": same})
        print(json.dumps(rows[-1]))
    result = {"graph": "digits monophone HCLG (3-gram G, 11 words)", "num_utts": args.num_utts,
              "frames": frames, "audio_seconds": audio_s, "frame_shift_s": 0.01,
              "lattice_beam": args.lattice_beam, "acoustic_scale": 0.1, "repeats": args.repeats, "sep": args.sep, "noise": args.noise,
              "machine": platform.processor() or platform.machine(), "rows": rows}
    (out / "decode_rtf.json").write_text(json.dumps(result, indent=1) + "\n")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 3.5))
    beams = [r["beam"] for r in rows]
    ax.plot(beams, [r["rtf_lattice"] for r in rows], "o-", label="lattice (compiled search + det.)")
    ax.plot(beams, [r["rtf_search"] for r in rows], "^:", label="  of which search")
    ax.plot(beams, [r["rtf_determinize"] for r in rows], "v:", label="  of which determinization")
    ax.plot(beams, [r["rtf_best_path"] for r in rows], "s--", label="best path (LatticeFaster)")
    ax.set_xlabel("beam")
    ax.set_ylabel("RTF (10 ms frames)")
    ax.set_yscale("log")
    ax.set_title(f"digits HCLG, {args.num_utts} utts, lattice-beam {args.lattice_beam:g}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "decode_rtf.png", dpi=120)
    return 0


if __name__ == "__main__":
    sys.exit(main())
