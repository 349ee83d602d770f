"""Conformance with real Kaldi through golden files (no Kaldi needed to run these).

tests/data/kaldi/golden/ holds what real Kaldi wrote (kaldi/) and the kaldi-kd files it
read (ours/), made by tests/data/kaldi/make_golden.sh (kaldi/VERSION names the Kaldi
commit).  Each test either reads Kaldi's bytes with our readers, or checks that our
writers give Kaldi's bytes or Kaldi's own reading of our files.
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import pytest

from kaldi_kd.kaldi.wheels import kaldi_hmm_gmm  # noqa: F401  (import order)
from kaldi_kd.data.tables import read_int_vectors, read_table, read_table_dict, write_int_vectors, write_table
from kaldi_kd.decode.lattice import best_path
from kaldi_kd.decode.lattice_codec import compact_lattice_to_text, compact_to_lattice, lattice_to_text
from kaldi_kd.decode.lattice_io import read_compact_lattices, read_lattices, write_compact_lattices, write_lattices
from kaldi_kd.gmm import model_io

GOLDEN = Path(os.environ.get("KALDI_KD_GOLDEN_DIR") or Path(__file__).resolve().parent / "data" / "kaldi" / "golden")
K, O = GOLDEN / "kaldi", GOLDEN / "ours"


def key_text(items, to_text) -> bytes:
    return b"".join(k.encode() + b" " + to_text(v).encode() for k, v in items)


def gunzip(path: Path) -> bytes:
    return gzip.decompress(path.read_bytes())


def int_table(path: Path) -> dict:
    return {f[0]: [int(x) for x in f[1:]] for f in (ln.split() for ln in path.read_text().splitlines()) if f}


def test_golden_files_are_small_and_versioned():
    size = sum(p.stat().st_size for p in GOLDEN.rglob("*") if p.is_file())
    assert size < 2 * 2 ** 20, f"golden files are {size} bytes"
    assert "kaldi_commit" in (K / "VERSION").read_text()


# ---------------------------------------------------------------- lattices Kaldi wrote
def test_kaldi_lattices_read_in_every_form():
    binary = dict(read_compact_lattices(K / "lat.1.gz"))
    text = dict(read_compact_lattices(K / "lat.txt"))
    piped = dict(read_compact_lattices(f"ark,s,cs:gunzip -c {K / 'lat.1.gz'}|"))
    assert len(binary) >= 10 and list(binary) == list(text) == list(piped)
    scp = (K / "lat.scp").read_text().replace(" lat_scp.ark:", f" {K / 'lat_scp.ark'}:")
    assert list(dict(read_compact_lattices_from_scp_text(scp))) == list(binary)
    raw_bin, raw_txt = dict(read_lattices(K / "lat_raw.ark")), dict(read_lattices(K / "lat_raw.txt"))
    for utt, clat in binary.items():
        assert text[utt].start == clat.start and [len(a) for a in text[utt].arcs] == [len(a) for a in clat.arcs]
        assert raw_bin[utt].arcs == compact_to_lattice(clat).arcs  # Kaldi's ConvertLattice, exactly
        assert len(raw_txt[utt].arcs) == len(raw_bin[utt].arcs)


def read_compact_lattices_from_scp_text(scp_text: str):
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".scp", delete=False) as f:
        f.write(scp_text)
    try:
        return list(read_compact_lattices(f"scp:{f.name}"))
    finally:
        Path(f.name).unlink()


def test_our_lattice_writers_give_kaldis_bytes(tmp_path):
    """Text: our printer on Kaldi's binary lattices = Kaldi's text; binary: our writer on
    Kaldi's text lattices = Kaldi's text->binary copy (header properties included)."""
    kal = list(read_compact_lattices(K / "lat.1.gz"))
    write_compact_lattices(f"ark,t:{tmp_path / 'lat.txt'}", kal)
    assert (tmp_path / "lat.txt").read_bytes() == (K / "lat.txt").read_bytes()
    from_text = list(read_compact_lattices(K / "lat.txt"))
    write_compact_lattices(tmp_path / "lat.ark", from_text)
    assert (tmp_path / "lat.ark").read_bytes() == (K / "lat_from_text.ark").read_bytes()
    raw = list(read_lattices(K / "lat_raw.ark"))
    write_lattices(tmp_path / "raw.txt", raw, binary=False)
    assert (tmp_path / "raw.txt").read_bytes() == (K / "lat_raw.txt").read_bytes()
    raw_from_text = list(read_lattices(K / "lat_raw.txt"))
    write_lattices(tmp_path / "raw.ark", raw_from_text)
    assert (tmp_path / "raw.ark").read_bytes() == (K / "lat_raw_from_text.ark").read_bytes()
    conv = [(k, compact_to_lattice(c)) for k, c in kal]
    assert key_text(conv, lattice_to_text) == (K / "lat_raw.txt").read_bytes()


def test_kaldi_reads_our_lattices_as_we_wrote_them(tmp_path):
    ours = list(read_compact_lattices(O / "lat.1.gz"))
    assert gunzip(O / "lat.1.gz") == (K / "ours_lat.copy.ark").read_bytes()  # Kaldi's binary copy: same bytes
    write_compact_lattices(tmp_path / "lat.1.gz", ours)
    assert gunzip(tmp_path / "lat.1.gz") == gunzip(O / "lat.1.gz")
    assert key_text(ours, compact_lattice_to_text) == (K / "ours_lat.txt").read_bytes()
    conv = [(k, compact_to_lattice(c)) for k, c in ours]
    assert key_text(conv, lattice_to_text) == (K / "ours_lat_raw.txt").read_bytes()


@pytest.mark.parametrize("lats, best", [(K / "lat.1.gz", K / "best.int"), (O / "lat.1.gz", K / "ours_best.int")])
def test_best_paths_are_lattice_best_paths(lats, best):
    theirs = int_table(best)
    ours = {u: best_path(c, acoustic_scale=0.1).words for u, c in read_compact_lattices(lats)}
    assert ours == theirs


def test_compute_wer_line():
    from kaldi_kd.score.score_dir import read_kaldi_text
    from kaldi_kd.score.wer import corpus_errors, total

    ref, hyp = read_kaldi_text(K / "ref.txt"), read_kaldi_text(K / "best.txt")
    line = next(ln for ln in (K / "compute-wer.txt").read_text().splitlines() if ln.startswith("%WER"))
    assert total(corpus_errors(ref, hyp, utts=[u for u in ref if u in hyp]).values()).kaldi_line() == line


# ---------------------------------------------------------------- graphs
def fstinfo(path: Path) -> dict:
    out = {}
    for line in path.read_text().splitlines():
        key, _, val = line.rpartition("  ")
        out[key.strip()] = val.strip()
    return out


def test_kaldi_const_hclg_reads_and_decodes_as_kaldi():
    from kaldi_kd.decode.decoder import DecoderConfig, MappedDecoder, read_graph
    from kaldi_kd.gmm.fstutils import read_fst, read_fst_header

    hclg = K / "HCLG.fst"
    info = fstinfo(K / "HCLG.fstinfo")
    assert read_fst_header(hclg.read_bytes()).fst_type == info["fst type"] == "const"
    fst = read_fst(hclg)
    assert fst.num_states == int(info["# of states"])
    graph = read_graph(hclg)
    tm, _ = model_io.read_model(K / "final.mdl")
    dec = MappedDecoder(graph, tm, DecoderConfig(beam=13.0, lattice_beam=8.0, max_active=7000))
    theirs = int_table(K / "best.int")
    same = 0
    for utt, ll in read_table(K / "loglikes.ark.gz"):
        res = dec.decode(ll, utt)
        same += best_path(res.lattice, acoustic_scale=0.1).words == theirs[utt]
    assert same == len(theirs)


def test_our_hclg_is_const_as_kaldis_mkgraph_writes():
    from kaldi_kd.gmm.fstutils import read_fst, read_fst_header

    info = fstinfo(K / "ours_HCLG.fstinfo")
    assert info["fst type"] == "const" == read_fst_header((O / "HCLG.fst").read_bytes()).fst_type
    assert read_fst(O / "HCLG.fst").num_states == int(info["# of states"])


def test_const_writer_matches_kaldis_hclg_bytes(tmp_path):
    from kaldi_kd.gmm.fstutils import read_fst, write_const_fst

    write_const_fst(read_fst(K / "HCLG.fst"), tmp_path / "HCLG.fst")
    assert (tmp_path / "HCLG.fst").read_bytes() == (K / "HCLG.fst").read_bytes()


# ---------------------------------------------------------------- models, trees, alignments
@pytest.mark.parametrize("name", ["final.mdl", "final.mdl.txt"])
def test_kaldi_model_reads_and_our_writer_gives_its_bytes(name):
    tm, am = model_io.read_model(K / name)
    assert tm.num_pdfs == am.num_pdfs > 0
    text = model_io.model_bytes(tm, am, binary=False)
    if name == "final.mdl":
        assert text == (K / "final.mdl.txt").read_bytes()
        assert model_io.model_bytes(tm, am, binary=True) == (K / "final.mdl").read_bytes()
    else:  # text keeps 7 digits: the GMMs' constants, recomputed on reading, may differ in the last one
        def no_gconsts(data: bytes) -> list:
            return [ln for ln in data.split(b"\n") if not ln.startswith(b"<GCONSTS>")]
        assert no_gconsts(text) == no_gconsts((K / "final.mdl.txt").read_bytes())


def test_our_model_as_kaldi_reads_it():
    tm, am = model_io.read_model(O / "final.mdl")
    assert (O / "final.mdl").read_bytes() == (K / "ours_final.mdl.copy").read_bytes()
    assert model_io.model_bytes(tm, am, binary=False) == (K / "ours_final.mdl.txt").read_bytes()
    info = (K / "ours_gmm-info.txt").read_text()
    assert f"number of pdfs {tm.num_pdfs}" in info and f"number of transition-ids {tm.num_transition_ids}" in info


@pytest.mark.parametrize("src, text", [(K / "tree", K / "tree.txt"), (O / "tree", K / "ours_tree.txt")])
def test_trees(src, text):
    t = model_io.read_tree_structure(src)
    assert model_io.read_tree_structure(text).num_pdfs() == t.num_pdfs() > 0
    assert t.to_bytes(binary=True) == src.read_bytes()
    assert t.to_bytes(binary=False) == text.read_bytes()
    if src.parent == O:
        assert f"num-pdfs {t.num_pdfs()}" in (K / "ours_tree-info.txt").read_text()


def test_alignments(tmp_path):
    tm, _ = model_io.read_model(K / "final.mdl")
    kal = dict(read_int_vectors(K / "ali.1.gz"))
    frames = {u: m.shape[0] for u, m in read_table(K / "loglikes.ark.gz")}
    assert {u: len(a) for u, a in kal.items()} == frames
    assert all(1 <= int(t) <= tm.num_transition_ids for a in kal.values() for t in a)
    ours = list(read_int_vectors(O / "ali.ark"))
    write_int_vectors(tmp_path / "ali.ark", ours)
    assert (tmp_path / "ali.ark").read_bytes() == (K / "ours_ali.copy.ark").read_bytes() == (O / "ali.ark").read_bytes()
    otm, _ = model_io.read_model(O / "final.mdl")
    pdfs = {u: [otm.transition_id_to_pdf(int(t)) for t in a] for u, a in ours}
    assert pdfs == int_table(K / "ours_ali_pdf.txt")


# ---------------------------------------------------------------- features
def text_matrices(path: Path) -> dict:
    out, key, rows = {}, None, []
    for line in path.read_text().splitlines():
        f = line.split()
        if not f:
            continue
        if f[-1] == "[":
            key, rows = f[0], []
            continue
        vals = [float(x) for x in f if x not in ("[", "]")]
        rows.append(vals)
        if f[-1] == "]":
            out[key] = np.array(rows, dtype=np.float32)
    return out


def test_our_feats_and_cmvn_as_kaldi_reads_them(tmp_path):
    feats = list(read_table(O / "feats.ark"))
    write_table(tmp_path / "feats.ark", feats)
    assert (tmp_path / "feats.ark").read_bytes() == (K / "ours_feats.copy.ark").read_bytes()
    theirs = text_matrices(K / "ours_feats.txt")
    for utt, m in feats:
        np.testing.assert_allclose(theirs[utt], m, rtol=1e-5, atol=1e-5)
    cm = text_matrices(K / "ours_cmvn.txt")
    for spk, s in read_table(O / "cmvn.ark"):
        np.testing.assert_allclose(cm[spk], s, rtol=1e-5)


@pytest.mark.parametrize("kind, ark, opts", [("mfcc", "mfcc.ark", {}), ("fbank", "fbank.ark", {"num-mel-bins": 40})])
def test_our_features_match_kaldis(kind, ark, opts):
    from kaldi_kd.data.features import FeatureConfig, compute_features
    from kaldi_kd.data.wav import read_wav_bytes

    samples, rate = read_wav_bytes((K / "tone.wav").read_bytes(), "tone.wav")
    cfg = FeatureConfig(feat_type=kind, options={"dither": 0.0, **opts})
    ours = compute_features(samples, rate, cfg)
    theirs = read_table_dict(K / ark)["tone"]
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, atol=2e-3, rtol=1e-3)


def test_cmvn_stats_match_kaldis():
    from kaldi_kd.data.transforms import cmvn_stats

    mfcc = read_table_dict(K / "mfcc.ark")["tone"]
    np.testing.assert_allclose(text_matrices(K / "mfcc.txt")["tone"], mfcc, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(cmvn_stats(mfcc), read_table_dict(K / "mfcc_cmvn.ark")["tone"], rtol=1e-5)


def test_binary_lattice_header_fields():
    data = (K / "lat_from_text.ark").read_bytes()
    sp = data.index(b" ")
    assert data[sp + 1] == 0xD6 and struct.unpack_from("<i", data, sp + 1)[0] == 2125659606
