"""The compiled lattice decoder (kaldi_kd/decode/csrc): graphs in both OpenFst layouts,
the search against Kaldi's own LatticeFasterDecoder (kaldi_hmm_gmm wheel) with the same
beam / max-active / min-active, its raw lattices against the Python determinizer."""

import gzip
import math
from pathlib import Path

import numpy as np
import pytest

from kaldi_kd.decode import _latgen
from kaldi_kd.decode.decoder import (
    DecodeError, DecoderConfig, MappedDecoder, decode_best_path_faster, read_graph,
)
from kaldi_kd.decode.determinize import determinize_lattice_pruned
from kaldi_kd.decode.lattice import CompactLattice, Lattice, best_path, lattice_word_sequences
from kaldi_kd.decode.toy import synthetic_loglikes
from kaldi_kd.kaldi.wheels import kaldifst
from decode_fixtures import toy_system


@pytest.fixture(scope="module")
def system():
    return toy_system()


def utterances(system, seed, n, size=5, sep=2.0, noise=2.0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        words = [int(w) for w in rng.integers(1, len(system.words), size=size)]
        out.append((words, synthetic_loglikes(system, words, rng, sep=sep, noise=noise)[0]))
    return out


def test_const_and_vector_graphs_read_alike(system, tmp_path):
    vec, const = tmp_path / "vector.fst", tmp_path / "const.fst"
    system.hclg.write(str(vec))
    kaldifst.StdConstFst(system.hclg).write(str(const))
    gv, gc = _latgen.Graph(str(vec)), _latgen.Graph(str(const))
    assert (gv.kind, gv.mapped) == ("vector", False)
    assert (gc.kind, gc.mapped) == ("const", True)
    assert gv.num_states == gc.num_states == system.hclg.num_states
    assert gv.num_arcs == gc.num_arcs == system.hclg.num_arcs(0) * 0 + sum(
        system.hclg.num_arcs(s) for s in range(system.hclg.num_states))
    assert gv.start == gc.start == system.hclg.start
    cfg = DecoderConfig(beam=12, lattice_beam=5)
    (words, ll), = utterances(system, 1, 1, sep=4.0)
    a = MappedDecoder(gv, system.trans_model, cfg).decode(ll, "u")
    b = MappedDecoder(gc, system.trans_model, cfg).decode(ll, "u")
    assert a.words == b.words == words and a.alignment == b.alignment
    assert a.lattice.arcs == b.lattice.arcs and a.lattice.finals == b.lattice.finals


def test_graph_read_once_per_process(system, tmp_path):
    path = tmp_path / "HCLG.fst"
    system.hclg.write(str(path))
    assert read_graph(path) is read_graph(str(path))


def test_bad_graph_names_the_file(tmp_path):
    bad = tmp_path / "HCLG.fst"
    bad.write_bytes(b"not an fst at all, just some bytes")
    with pytest.raises(ValueError, match="HCLG.fst"):
        _latgen.Graph(str(bad))
    with pytest.raises(ValueError, match="missing.fst"):
        _latgen.Graph(str(tmp_path / "missing.fst"))


@pytest.mark.parametrize("max_active,min_active,beam", [(7000, 200, 13.0), (20, 5, 13.0), (50, 0, 8.0),
                                                        (10, 2, 20.0)])
def test_search_matches_kaldi_lattice_faster_decoder(system, max_active, min_active, beam):
    """Same best path, alignment and likelihood as Kaldi's LatticeFasterDecoder with the
    same options; small max-active values bind (at most max_active + 1 tokens expanded,
    Kaldi's rule), so the histogram pruning is the same as Kaldi's."""
    cfg = DecoderConfig(beam=beam, lattice_beam=3, max_active=max_active, min_active=min_active, retry_beams=())
    dec = MappedDecoder(system.hclg, system.trans_model, cfg)
    for words, ll in utterances(system, 7, 6):
        res = dec.decode(ll, "u")
        ref = decode_best_path_faster(system.hclg, system.trans_model, ll, cfg)
        assert res.words == ref.words and res.alignment == ref.alignment
        assert res.likelihood == pytest.approx(ref.likelihood, abs=1e-3)
        # Kaldi's rule: the max_active + 1 best, plus any tied with the last one
        assert res.info["active_per_frame"] <= (max_active + 1) * 1.05
        if max_active <= 20:
            assert res.info["active_per_frame"] > max_active * 0.9  # it binds


def test_compiled_determinization_matches_python_on_decoder_lattices(system):
    """One pass on words in C++ and the Python reference build the same lattice: the same
    paths (in the beam or not) with the same costs."""
    cfg = DecoderConfig(beam=13, lattice_beam=6, phone_determinize=False)
    dec = MappedDecoder(system.hclg, system.trans_model, cfg)
    for words, ll in utterances(system, 3, 5, size=4, sep=4.0):
        res = dec.decode(ll, "u")
        raw, _, _ = dec.search(dec.check_loglikes(ll))
        start, arcs, finals = raw.to_lists()
        ref = determinize_lattice_pruned(Lattice(arcs, finals, start), cfg.lattice_beam)
        assert (res.lattice.num_states, res.lattice.num_arcs) == (ref.num_states, ref.num_arcs)
        ours, theirs = lattice_word_sequences(res.lattice), lattice_word_sequences(ref)
        assert set(ours) == set(theirs) and tuple(words) in ours
        for seq, (g, a) in theirs.items():
            assert ours[seq][0] == pytest.approx(g, abs=1e-3)
            assert ours[seq][1] == pytest.approx(a / cfg.acoustic_scale, rel=1e-5, abs=1e-2)
        assert best_path(res.lattice, acoustic_scale=0.1).alignment == res.alignment


def test_no_final_state_gives_partial_lattice_or_error(system):
    (words, ll), = utterances(system, 5, 1, sep=3.0)
    ll = ll[:4]  # every toy word takes at least 6 frames: no final state is reachable
    cfg = DecoderConfig(beam=10, lattice_beam=3, retry_beams=(2.0,))
    res = MappedDecoder(system.hclg, system.trans_model, cfg).decode(ll, "u")
    assert res.partial and res.beam_used == 20.0  # the wider beam was tried too
    assert len(res.alignment) == 4
    strict = DecoderConfig(beam=10, lattice_beam=3, retry_beams=(), allow_partial=False)
    with pytest.raises(DecodeError, match="'u'.*no final state"):
        MappedDecoder(system.hclg, system.trans_model, strict).decode(ll, "u")


def test_transition_ids_outside_the_model_are_reported(system):
    (words, ll), = utterances(system, 2, 1)
    table = np.ascontiguousarray(system.trans_model.transition_id_to_pdf_array(), dtype=np.int32)
    graph = MappedDecoder(system.hclg, system.trans_model).graph
    dec = _latgen.Decoder(graph, table[:5], beam=10.0)
    with pytest.raises(ValueError, match="transition-id"):
        dec.decode(np.ascontiguousarray(ll), 0.1)
    with pytest.raises(ValueError, match="float32"):
        _latgen.Decoder(graph, table, beam=10.0).decode(ll.astype(np.float64), 0.1)


def test_decoder_is_reusable_and_deterministic(system):
    cfg = DecoderConfig(beam=11, lattice_beam=6, max_active=100, min_active=20)
    dec = MappedDecoder(system.hclg, system.trans_model, cfg)
    utts = utterances(system, 9, 3, sep=4.0)
    first = [dec.decode(ll, "u") for _, ll in utts]
    again = [dec.decode(ll, "u") for _, ll in utts]
    for a, b in zip(first, again):
        assert a.lattice.arcs == b.lattice.arcs and a.lattice.finals == b.lattice.finals
        assert math.isclose(a.likelihood, b.likelihood)


def test_phone_then_word_determinization_gives_the_same_lattice(system):
    """Kaldi's two-pass determinization (phones and words, then words) and one pass on
    words keep the same word sequences within the lattice beam, with the same costs and
    the same best path."""
    one = MappedDecoder(system.hclg, system.trans_model, DecoderConfig(beam=12, lattice_beam=5,
                                                                       phone_determinize=False))
    two = MappedDecoder(system.hclg, system.trans_model, DecoderConfig(beam=12, lattice_beam=5,
                                                                       phone_determinize=True))
    assert one.phone_start[np.nonzero(one.phone_start)].min() >= 1
    for words, ll in utterances(system, 4, 4, size=4, sep=3.0):
        a, b = one.decode(ll, "u"), two.decode(ll, "u")
        assert b.info["det_phone_states"] > 0 and a.info["det_phone_states"] == 0
        assert a.words == b.words and a.alignment == b.alignment
        sa, sb = lattice_word_sequences(a.lattice), lattice_word_sequences(b.lattice)
        best = min(g + 0.1 * ac for g, ac in sa.values())
        ina = {k for k, (g, ac) in sa.items() if g + 0.1 * ac <= best + 5 - 1e-3}
        inb = {k for k, (g, ac) in sb.items() if g + 0.1 * ac <= best + 5 - 1e-3}
        assert ina == inb and len(ina) > 1
        for k in ina:
            assert sa[k][0] == pytest.approx(sb[k][0], abs=1e-3)
            assert sa[k][1] == pytest.approx(sb[k][1], abs=1e-2)


def test_raw_lattice_does_not_depend_on_the_pruning_schedule(system):
    """Pruning during the search removes only links the final pruning would remove: the
    raw lattice is the same whether the decoder prunes every frame or only at the end."""
    graph = MappedDecoder(system.hclg, system.trans_model).graph
    table = np.ascontiguousarray(system.trans_model.transition_id_to_pdf_array(), dtype=np.int32)
    for words, ll in utterances(system, 12, 2, sep=3.0):
        lats = []
        for interval in (1, 7, 25, 100000):
            dec = _latgen.Decoder(graph, table, beam=12.0, lattice_beam=5.0, max_active=300, min_active=20,
                                  prune_interval=interval)
            raw, info = dec.decode(np.ascontiguousarray(ll), 0.1)
            lats.append(raw.to_lists())
        assert all(lat == lats[0] for lat in lats[1:])
        assert sum(len(a) for a in lats[0][1]) > 100


GOLDEN = Path(__file__).resolve().parent / "golden" / "det"


def read_kaldi_raw_text(path: Path, acoustic_scale: float) -> Lattice:
    """A state-level lattice in Kaldi's text form (``src dst ilabel olabel graph,acoustic`` /
    ``state [graph,acoustic]``), acoustic costs multiplied by ``acoustic_scale``."""
    rows = [line.split() for line in gzip.decompress(path.read_bytes()).decode().splitlines()[1:] if line.strip()]
    lat = Lattice(arcs=[[] for _ in range(1 + max(int(r[0]) for r in rows)
                                          + max(int(r[1]) if len(r) >= 4 else 0 for r in rows))])
    lat.start = int(rows[0][0])
    for r in rows:
        g, a = map(float, r[-1].split(",")) if "," in r[-1] else (0.0, 0.0)
        if len(r) >= 4:
            lat.arcs[int(r[0])].append((int(r[2]), int(r[3]), g, a * acoustic_scale, int(r[1])))
        else:
            lat.finals[int(r[0])] = (g, a * acoustic_scale)
    return lat


def test_determinization_gives_kaldis_lattice():
    """On a raw lattice written by Kaldi's latgen-faster-mapped, the compiled two-pass
    determinization gives the lattice Kaldi's lattice-determinize-phone-pruned gave:
    the same numbers of states and arcs and the same paths, every word sequence of it
    (in the beam or not) with the same costs; one pass on words keeps the same word
    sequences within the beam."""
    from kaldi_kd.decode.lattice_io import compact_lattice_from_text

    raw = read_kaldi_raw_text(GOLDEN / "raw.txt.gz", 0.1)
    lines = (GOLDEN / "det_phone.txt").read_text().splitlines()
    kaldi = compact_lattice_from_text([ln for ln in lines[1:] if ln.strip()])
    phone_start = np.loadtxt(GOLDEN / "phone_start.txt", dtype=np.int32)
    start, arcs, finals, info = _latgen.raw_lattice(raw.start, raw.arcs, raw.finals).determinize(
        4.0, acoustic_scale=10.0, phone_start=phone_start)
    ours = CompactLattice(arcs=arcs, finals=finals, start=start)
    assert info["phone_states"] > 0
    assert (ours.num_states, ours.num_arcs) == (kaldi.num_states, kaldi.num_arcs)
    a, b = lattice_word_sequences(ours), lattice_word_sequences(kaldi)
    assert set(a) == set(b) and len(a) > 20
    for seq, (g, ac) in b.items():
        assert a[seq][0] == pytest.approx(g, abs=2e-3) and a[seq][1] == pytest.approx(ac, abs=2e-2)
    kb, ob = best_path(kaldi, acoustic_scale=0.1), best_path(ours, acoustic_scale=0.1)
    assert ob.words == kb.words and ob.alignment == kb.alignment
    start, arcs, finals, _ = _latgen.raw_lattice(raw.start, raw.arcs, raw.finals).determinize(4.0, acoustic_scale=10.0)
    one = CompactLattice(arcs=arcs, finals=finals, start=start)
    best = min(g + 0.1 * ac for g, ac in b.values())
    in_beam = {s for s, (g, ac) in b.items() if g + 0.1 * ac <= best + 4 - 1e-3}
    assert in_beam == {s for s, (g, ac) in lattice_word_sequences(one).items() if g + 0.1 * ac <= best + 4 - 1e-3}
