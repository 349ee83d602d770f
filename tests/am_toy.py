"""A toy hybrid-AM corpus for tests: a TransitionModel from a text topology, random
learnable features (pdf means + speaker offsets + noise) with per-speaker CMVN stats, and
transition-id alignments in ali.N.gz.  Not a test module."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Tuple

import numpy as np

from kaldi_kd.data.tables import write_int_vectors, write_table
from kaldi_kd.kaldi.wheels import kaldi_hmm_gmm
from gmm_fixtures import topo_entry, unit_gaussian_am


def toy_topo(num_phones: int) -> str:
    return f"<Topology>\n{topo_entry(range(1, num_phones + 1), 0.75)}</Topology>\n"


def toy_transition_model(num_phones: int = 3):
    topo = kaldi_hmm_gmm.HmmTopology()
    topo.read(toy_topo(num_phones))
    ctx = kaldi_hmm_gmm.monophone_context_dependency(list(range(1, num_phones + 1)),
                                                     topo.get_phone_to_num_pdf_classes())
    return kaldi_hmm_gmm.TransitionModel(ctx, topo)


def make_toy_corpus(root: Path, tid2pdf: np.ndarray, num_utts: int = 12, dim: int = 8,
                    min_len: int = 20, max_len: int = 60, num_spk: int = 3, seed: int = 0,
                    noise: float = 0.3) -> Tuple[Path, Path, Dict[str, np.ndarray]]:
    """Write ``root/data`` (feats/cmvn scp, utt2spk, spk2utt) and ``root/ali`` (ali.1.gz, ali.2.gz).

    Returns:
        (data_dir, ali_dir, utt -> pdf alignment).
    """
    rng = np.random.default_rng(seed)
    num_pdfs = int(tid2pdf[1:].max()) + 1
    means = rng.normal(size=(num_pdfs, dim)) * 2
    data, ali = root / "data", root / "ali"
    data.mkdir(parents=True, exist_ok=True)
    ali.mkdir(parents=True, exist_ok=True)
    feats, alis, pdfs, utt2spk = {}, {}, {}, {}
    for i in range(num_utts):
        spk = f"spk{i % num_spk}"
        utt = f"{spk}-utt{i:03d}"
        t = int(rng.integers(min_len, max_len + 1))
        pdf = np.empty(t, dtype=np.int32)
        pos = 0
        while pos < t:
            d = int(rng.integers(2, 7))
            pdf[pos:pos + d] = rng.integers(num_pdfs)
            pos += d
        tids = np.array([rng.choice(np.flatnonzero(tid2pdf[1:] == p)) + 1 for p in pdf], dtype=np.int32)
        offset = (i % num_spk) * 0.5
        feats[utt] = (means[pdf] + offset + noise * rng.normal(size=(t, dim))).astype(np.float32)
        alis[utt], pdfs[utt], utt2spk[utt] = tids, pdf, spk
    utts = sorted(feats)
    write_table(data / "feats.ark", ((u, feats[u]) for u in utts), scp=data / "feats.scp")
    stats = {}
    for spk in sorted(set(utt2spk.values())):
        x = np.concatenate([feats[u] for u in utts if utt2spk[u] == spk]).astype(np.float64)
        s = np.zeros((2, dim + 1))
        s[0, :dim], s[1, :dim], s[0, dim] = x.sum(0), (x ** 2).sum(0), len(x)
        stats[spk] = s
    write_table(data / "cmvn.ark", sorted(stats.items()), scp=data / "cmvn.scp")
    (data / "utt2spk").write_text("".join(f"{u} {utt2spk[u]}\n" for u in utts))
    spks = sorted(set(utt2spk.values()))
    (data / "spk2utt").write_text("".join(
        f"{s} {' '.join(u for u in utts if utt2spk[u] == s)}\n" for s in spks))
    half = len(utts) // 2
    write_int_vectors(ali / "ali.1.gz", ((u, alis[u]) for u in utts[:half]))
    write_int_vectors(ali / "ali.2.gz", ((u, alis[u]) for u in utts[half:]))
    return data, ali, pdfs


def write_toy_final_mdl(path: Path, trans_model, dim: int = 8) -> None:
    """A ``final.mdl`` (TransitionModel + single-Gaussian AmDiagGmm) through kaldi_kd.gmm.model_io."""
    from kaldi_kd.gmm.model_io import write_model

    am = unit_gaussian_am(trans_model.num_pdfs, dim)
    write_model(path, trans_model, am)
