"""Tiny decode setups for tests: a toy monophone system on disk (graph dir, model,
data dir, loglike arks) with known transcripts."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

from kaldi_kd.decode.toy import DIGITS_LEXICON, ToySystem, build_toy_system, synthetic_loglikes
from kaldi_kd.kaldi.wheels import kaldi_hmm_gmm

_SYSTEM = None


def toy_system() -> ToySystem:
    global _SYSTEM
    if _SYSTEM is None:
        _SYSTEM = build_toy_system(DIGITS_LEXICON, 12)
    return _SYSTEM


def random_am(trans_model, dim: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    am = kaldi_hmm_gmm.AmDiagGmm()
    for _ in range(trans_model.num_pdfs):
        g = kaldi_hmm_gmm.DiagGmm(1, dim)
        g.set_weights(np.ones(1, dtype=np.float32))
        g.set_invvars(np.ones((1, dim), dtype=np.float32))
        g.set_means(rng.normal(size=(1, dim)).astype(np.float32))
        g.compute_gconsts()
        am.add_pdf(g)
    return am


def make_decode_setup(root: Path, num_utts: int = 6, num_jobs: int = 2, seed: int = 0,
                      noise: float = 1.0) -> Dict[str, object]:
    """graph dir (HCLG.fst, words.txt), model dir (final.mdl), data dir (text, utt2spk,
    spk2utt), loglike dir (loglikes.N.ark) under ``root``; returns paths and truths."""
    from kaldi_kd.data.tables import write_table
    from kaldi_kd.gmm.model_io import write_model

    sysm = toy_system()
    rng = np.random.default_rng(seed)
    exp = root / "exp" / "mono"
    graph = exp / "graph"
    graph.mkdir(parents=True)
    sysm.hclg.write(str(graph / "HCLG.fst"))
    (graph / "words.txt").write_text("".join(f"{w} {i}\n" for i, w in enumerate(sysm.words)))
    write_model(exp / "final.mdl", sysm.trans_model, random_am(sysm.trans_model))
    data = root / "data" / "test"
    data.mkdir(parents=True)
    utts: List[Tuple[str, List[int], np.ndarray]] = []
    for i in range(num_utts):
        spk = f"spk{i % 2}"
        words = [int(w) for w in rng.integers(1, len(sysm.words), size=int(rng.integers(2, 6)))]
        ll, _ = synthetic_loglikes(sysm, words, rng, noise=noise)
        utts.append((f"{spk}-utt{i}", words, ll))
    utts.sort(key=lambda u: u[0])
    (data / "text").write_text("".join(f"{u} {' '.join(sysm.words[w] for w in ws)}\n" for u, ws, _ in utts))
    (data / "utt2spk").write_text("".join(f"{u} {u.split('-')[0]}\n" for u, _, _ in utts))
    spk2utt: Dict[str, List[str]] = {}
    for u, _, _ in utts:
        spk2utt.setdefault(u.split("-")[0], []).append(u)
    (data / "spk2utt").write_text("".join(f"{s} {' '.join(us)}\n" for s, us in sorted(spk2utt.items())))
    ll_dir = exp.parent / "am" / "loglikes_test"
    ll_dir.mkdir(parents=True)
    per = (len(utts) + num_jobs - 1) // num_jobs
    for j in range(num_jobs):
        write_table(ll_dir / f"loglikes.{j + 1}.ark", [(u, ll) for u, _, ll in utts[j * per:(j + 1) * per]])
    return {"graph": graph, "model": exp / "final.mdl", "data": data, "loglikes": ll_dir,
            "truth": {u: ws for u, ws, _ in utts}, "system": sysm}
