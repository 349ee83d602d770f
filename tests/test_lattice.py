"""Lattices: determinization on hand-made lattices, CompactLattice text/binary round
trips, scale / penalty / best path."""

import gzip
import math

import numpy as np
import pytest

from kaldi_kd.decode.determinize import (
    determinize_lattice_compiled, determinize_lattice_pruned, prune_raw_lattice,
)
from kaldi_kd.decode.lattice import (
    CompactLattice, Lattice, add_word_penalty, best_path, compact_forward_backward,
    lattice_word_sequences, raw_best_path, scale_lattice, topological_order,
)
from kaldi_kd.decode.lattice_io import (
    LatticeIOError, compact_lattice_to_bytes, read_compact_lattices, write_compact_lattices,
)


def chain(lat: Lattice, src: int, labels, weights, dst: int) -> None:
    """Add a chain of arcs src -> ... -> dst with (ilabel, olabel) labels."""
    s = src
    for i, ((il, ol), w) in enumerate(zip(labels, weights)):
        d = dst if i == len(labels) - 1 else lat.add_state()
        lat.add_arc(s, il, ol, w, d)
        s = d


def two_paths_same_words() -> Lattice:
    """Words 5 6 by two alignments (costs 3+? differ), plus words 5 7."""
    lat = Lattice()
    s0, f = lat.add_state(), lat.add_state()
    lat.start = s0
    lat.finals[f] = (0.5, 0.0)
    chain(lat, s0, [(1, 5), (2, 0), (3, 6), (4, 0)], [(1, 1), (0, 1), (1, 1), (0, 1)], f)  # total 6
    chain(lat, s0, [(1, 5), (2, 0), (2, 0), (3, 6)], [(1, 2), (0, 1), (0, 1), (1, 0.5)], f)  # 6.5
    chain(lat, s0, [(1, 5), (3, 7), (4, 0), (4, 0)], [(1, 1), (2, 1), (0, 1), (0, 1)], f)   # 7
    return lat


# every determinization test runs on the Python reference and on the compiled code
@pytest.fixture(params=["python", "compiled"])
def determinize(request):
    return determinize_lattice_pruned if request.param == "python" else determinize_lattice_compiled


def test_determinize_keeps_cheaper_alignment_of_same_words(determinize):
    lat = two_paths_same_words()
    clat = determinize(lat, beam=math.inf)
    seqs = lattice_word_sequences(clat)
    assert set(seqs) == {(5, 6), (5, 7)}  # one path per word sequence
    g, a = seqs[(5, 6)]
    assert (g, a) == pytest.approx((2.5, 4.0))  # the cheaper of 6.5 vs 7.0 (incl. final 0.5)
    bp = best_path(clat)
    assert bp.words == [5, 6] and bp.alignment == [1, 2, 3, 4]
    assert (bp.graph_cost, bp.acoustic_cost) == pytest.approx((2.5, 4.0))


def test_determinize_beam_prunes_worse_word_sequence(determinize):
    clat = determinize(two_paths_same_words(), beam=0.75)
    assert set(lattice_word_sequences(clat)) == {(5, 6)}


def random_raw_lattice(rng, frames=6, width=3, vocab=4) -> Lattice:
    """A layered random lattice: frames x width states, word labels on ~1/3 of arcs."""
    lat = Lattice()
    layers = [[lat.add_state()]]
    lat.start = 0
    for t in range(frames):
        layer = [lat.add_state() for _ in range(width)]
        for s in layers[-1]:
            for d in rng.choice(layer, size=2, replace=False):
                word = int(rng.integers(1, vocab + 1)) if rng.random() < 0.35 else 0
                lat.add_arc(s, int(rng.integers(1, 9)), word,
                            (float(rng.uniform(0, 2)), float(rng.uniform(-1, 3))), int(d))
        layers.append(layer)
    for s in layers[-1]:
        lat.finals[s] = (float(rng.uniform(0, 1)), 0.0)
    return lat


def brute_force_word_sequences(lat: Lattice):
    """word sequence -> best (graph, acoustic, tids) over all paths."""
    out = {}
    stack = [(lat.start, (), 0.0, 0.0, ())]
    while stack:
        s, ws, g, a, t = stack.pop()
        if s in lat.finals:
            fg, fa = lat.finals[s]
            cand = (g + fg, a + fa, t)
            cur = out.get(ws)
            if cur is None or (cand[0] + cand[1], cand[0]) < (cur[0] + cur[1], cur[0]):
                out[ws] = cand
        for (il, ol, ag, aa, d) in lat.arcs[s]:
            stack.append((d, ws + ((ol,) if ol else ()), g + ag, a + aa, t + ((il,) if il else ())))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_determinize_matches_brute_force(seed, determinize):
    rng = np.random.default_rng(seed)
    lat = random_raw_lattice(rng)
    truth = brute_force_word_sequences(lat)
    clat = determinize(lat, beam=math.inf)
    seqs = lattice_word_sequences(clat)
    assert set(seqs) == set(truth)
    for ws, (g, a, _) in truth.items():
        assert seqs[ws][0] + seqs[ws][1] == pytest.approx(g + a, abs=1e-4)
    # deterministic: no state has two arcs with the same word
    for arcs in clat.arcs:
        words = [w for (w, *_rest) in arcs]
        assert len(words) == len(set(words))
    # best path and both of its costs preserved
    rb, cb = raw_best_path(lat), best_path(clat)
    assert cb.words == rb.words and cb.alignment == rb.alignment
    assert (cb.graph_cost, cb.acoustic_cost) == pytest.approx((rb.graph_cost, rb.acoustic_cost), abs=1e-4)
    # with a beam: every in-beam word sequence kept with its exact cost; every arc on an in-beam path
    beam = 1.5
    best = rb.total_cost
    pruned = determinize(lat, beam=beam)
    pseqs = lattice_word_sequences(pruned)
    for ws, (g, a, _) in truth.items():
        if g + a <= best + beam - 1e-4:
            assert sum(pseqs[ws]) == pytest.approx(g + a, abs=1e-4)
    order = topological_order(pruned.arcs, pruned.start)
    alpha, beta = compact_forward_backward(pruned, order)
    for s in order:
        for (_, g, a, _, d) in pruned.arcs[s]:
            assert alpha[s] + g + a + beta[d] <= best + beam + 1e-4


def small_compact() -> CompactLattice:
    c = CompactLattice()
    for _ in range(4):
        c.add_state()
    c.start = 0
    c.add_arc(0, 3, (1.5, 10.25), [1, 2, 2], 1)
    c.add_arc(0, 4, (2.0, 9.0), [1, 5], 2)
    c.add_arc(1, 7, (0.0, 0.0), [], 3)
    c.add_arc(2, 7, (0.5, 1.0), [6], 3)
    c.set_final(3, (0.25, 0.0), [8])
    return c


@pytest.mark.parametrize("binary", [True, False])
def test_compact_lattice_round_trip(tmp_path, binary):
    lats = [("utt1", small_compact()), ("utt2", determinize_lattice_pruned(two_paths_same_words(), 10.0))]
    path = tmp_path / ("lat.1.gz" if binary else "lat.txt")
    assert write_compact_lattices(path, lats, binary=binary) == 2
    back = list(read_compact_lattices(path))
    assert [k for k, _ in back] == ["utt1", "utt2"]
    for (_, a), (_, b) in zip(lats, back):
        assert b.start == a.start and b.num_states == a.num_states
        assert sorted(b.finals) == sorted(a.finals)
        for s in range(a.num_states):
            assert len(a.arcs[s]) == len(b.arcs[s])
            for x, y in zip(a.arcs[s], b.arcs[s]):
                assert x[0] == y[0] and x[3] == y[3] and x[4] == y[4]
                assert x[1:3] == pytest.approx(y[1:3], abs=1e-5)
    if binary:
        assert gzip.open(path).read(6) == b"utt1 \xd6"  # no \0B: Kaldi detects binary by the FST magic


def test_binary_header_is_kaldi_compact_lattice():
    data = compact_lattice_to_bytes(small_compact())
    assert int.from_bytes(data[:4], "little") == 2125659606
    assert data[4:8] == (6).to_bytes(4, "little") and data[8:14] == b"vector"
    assert data[14:18] == (16).to_bytes(4, "little") and data[18:34] == b"compactlattice44"


def test_text_format_is_kaldi(tmp_path):
    path = tmp_path / "lat.txt"
    write_compact_lattices(path, [("u", small_compact())], binary=False)
    lines = path.read_text().split("\n")
    assert lines[0] == "u "
    assert lines[1] == "0\t1\t3\t1.5,10.25,1_2_2"
    assert "1\t3\t7" in lines and "3\t0.25,0,8" in lines
    assert path.read_text().endswith("\n\n")


def test_corrupt_lattice_names_file_and_utt(tmp_path):
    path = tmp_path / "lat.1.gz"
    data = b"bad1 \0B" + compact_lattice_to_bytes(small_compact())[:30]
    path.write_bytes(gzip.compress(data))
    with pytest.raises(LatticeIOError, match=r"lat\.1\.gz.*bad1"):
        list(read_compact_lattices(path))


def test_scale_penalty_best_path():
    c = small_compact()
    # path A: words 3 7, g 1.75, a 10.25 ; path B: words 4 7, g 2.75, a 10.0
    assert best_path(c).words == [3, 7]                      # 12.0 vs 12.75
    assert best_path(c, acoustic_scale=0.1).words == [3, 7]  # 2.775 vs 3.75
    # acoustics x50: A 1.75 + 512.5 > B 2.75 + 500 -> B wins
    assert best_path(scale_lattice(c, 1.0, 50.0)).words == [4, 7]
    p = add_word_penalty(c, 1.0)
    assert best_path(p).graph_cost == pytest.approx(1.75 + 2.0)
    b = best_path(c)
    assert b.alignment == [1, 2, 2, 8] and (b.graph_cost, b.acoustic_cost) == pytest.approx((1.75, 10.25))


def test_binary_reader_reads_openfst_written_lattice(tmp_path):
    """The OpenFst header/state layout we write and read is the one OpenFst itself
    writes: a kaldifst Lattice (weight type lattice4) written by OpenFst reads back
    through our reader with the same arcs as its text form."""
    from kaldi_kd.kaldi.wheels import kaldifst
    from kaldi_kd.decode.lattice_io import _Reader, lattice_from_kaldifst, lattice_from_reader

    fst = kaldifst.Lattice()
    for _ in range(3):
        fst.add_state()
    fst.start = 0
    fst.add_arc(0, kaldifst.LatticeArc(5, 2, kaldifst.LatticeWeight(1.5, 2.25), 1))
    fst.add_arc(0, kaldifst.LatticeArc(6, 0, kaldifst.LatticeWeight(0.5, -1.0), 2))
    fst.add_arc(1, kaldifst.LatticeArc(7, 3, kaldifst.LatticeWeight(0.0, 4.0), 2))
    fst.set_final(2, kaldifst.LatticeWeight(0.25, 0.0))
    fst.write(str(tmp_path / "x.lat"))
    ours = lattice_from_reader(_Reader((tmp_path / "x.lat").read_bytes()))
    ref = lattice_from_kaldifst(fst)
    assert ours.start == ref.start == 0
    assert ours.arcs == ref.arcs and ours.finals == ref.finals


def test_raw_arc_limit_tightens_beam(determinize):
    lat = random_raw_lattice(np.random.default_rng(2), frames=8, width=4)
    full = determinize(lat, beam=math.inf)
    small = determinize(lat, beam=6.0, max_raw_arcs=20)
    pruned, used = prune_raw_lattice(lat, 6.0, max_arcs=20)
    assert used < 6.0 and 0 < sum(len(a) for a in pruned.arcs) <= 20
    rb = raw_best_path(lat)
    sb = best_path(small)
    assert sb.words == rb.words and sb.total_cost == pytest.approx(rb.total_cost, abs=1e-4)
    assert len(lattice_word_sequences(small)) < len(lattice_word_sequences(full))


@pytest.mark.parametrize("seed", range(8))
def test_determinize_negative_costs_with_beam(seed, determinize):
    # hybrid log-likelihoods > 0 give negative acoustic costs: pruning must stay exact
    rng = np.random.default_rng(100 + seed)
    lat = random_raw_lattice(rng, frames=7)
    for s, arcs in enumerate(lat.arcs):
        lat.arcs[s] = [(il, ol, g, a - 6.0, d) for (il, ol, g, a, d) in arcs]
    truth = brute_force_word_sequences(lat)
    best = min(g + a for g, a, _ in truth.values())
    beam = 2.0
    pseqs = lattice_word_sequences(determinize(lat, beam=beam))
    for ws, (g, a, _) in truth.items():
        if g + a <= best + beam - 1e-4:
            assert ws in pseqs and sum(pseqs[ws]) == pytest.approx(g + a, abs=1e-4)
