"""Lattice tables in every form Kaldi uses (no Kaldi needed): binary/text, Lattice/CompactLattice,
ark/scp/gzip/pipes, the archives of kaldi-kd before the conformance fix; graphs vector or const."""

from __future__ import annotations

import gzip
import shutil
import subprocess

import pytest

from kaldi_kd.decode.lattice import CompactLattice, Lattice
from kaldi_kd.decode.lattice_codec import compact_lattice_to_bytes, compact_to_lattice, parse_text_lattice
from kaldi_kd.decode.lattice_io import (
    LatticeIOError, read_compact_lattices, read_lattices, write_compact_lattices, write_lattices,
)
from test_lattice import small_compact as compact  # the shared 4-state fixture


def same_compact(a: CompactLattice, b: CompactLattice) -> bool:
    def norm(c):
        return (c.start, [[(w, round(g, 4), round(x, 4), tuple(t), d) for (w, g, x, t, d) in arcs] for arcs in c.arcs],
                {s: (round(g, 4), round(x, 4), tuple(t)) for s, (g, x, t) in c.finals.items()})
    return norm(a) == norm(b)


def test_compact_to_lattice_is_kaldis_convert():
    lat = compact_to_lattice(compact())
    # states 0-3 keep their numbers; chains: 0->4->5->1 for [1,2,2] (word 3, weight on the first
    # arc), 0->6->2 for [1,5]; the final string [8] becomes 3->7 with state 7 final
    assert lat.start == 0 and lat.num_states == 8
    assert lat.arcs[3] == [(8, 0, 0.25, 0.0, 7)] and lat.finals == {7: (0.0, 0.0)}
    assert lat.arcs[0] == [(1, 3, 1.5, 10.25, 4), (1, 4, 2.0, 9.0, 6)]
    assert lat.arcs[4] == [(2, 0, 0.0, 0.0, 5)] and lat.arcs[5] == [(2, 0, 0.0, 0.0, 1)]
    assert lat.arcs[6] == [(5, 0, 0.0, 0.0, 2)]
    assert lat.arcs[1] == [(0, 7, 0.0, 0.0, 3)]  # an empty string: an input-epsilon arc


@pytest.mark.parametrize("binary", [True, False])
def test_state_level_lattices_round_trip(tmp_path, binary):
    lat = compact_to_lattice(compact())
    path = tmp_path / "raw.1.gz"
    write_lattices(path, [("u1", lat), ("u2", lat)], binary=binary)
    back = dict(read_lattices(path))
    assert list(back) == ["u1", "u2"]
    assert back["u1"].arcs == lat.arcs and back["u1"].finals == lat.finals
    as_compact = dict(read_compact_lattices(path))  # Kaldi reads either type as the other
    assert as_compact["u2"].start == 0


def test_text_kinds_are_told_apart():
    lat, clat = parse_text_lattice(["0\t1\t3\t1.5,10.25,1_2_2", "1\t0.25,0,8"])
    assert lat is None and clat.arcs[0][0] == (3, 1.5, 10.25, (1, 2, 2), 1)
    lat, clat = parse_text_lattice(["0\t1\t5\t3\t1.5,2", "1"])
    assert clat is None and lat.arcs[0][0] == (5, 3, 1.5, 2.0, 1)
    lat, clat = parse_text_lattice(["0\t1\t5\t3", "1"])  # 4 columns: a Lattice arc with weight One
    assert lat.arcs[0][0] == (5, 3, 0.0, 0.0, 1) and clat is None
    with pytest.raises(LatticeIOError, match="bad line"):
        parse_text_lattice(["0\t1\tx"])


@pytest.mark.parametrize("form", ["ark,scp", "ark,t,scp"])
def test_scp_offsets(tmp_path, form):
    ark, scp = tmp_path / "lat.ark", tmp_path / "lat.scp"
    lats = [("a", compact()), ("b", compact()), ("c", compact())]
    assert write_compact_lattices(f"{form}:{ark},{scp}", lats) == 3
    lines = scp.read_text().splitlines()
    assert [ln.split()[0] for ln in lines] == ["a", "b", "c"]
    data = ark.read_bytes()
    for line in lines:
        key, rx = line.split()
        off = int(rx.rsplit(":", 1)[1])
        assert data[off - len(key) - 1:off] == key.encode() + b" "
    back = list(read_compact_lattices(f"scp:{scp}"))
    assert [k for k, _ in back] == ["a", "b", "c"] and all(same_compact(c, compact()) for _, c in back)
    assert ("t" in form) == (data[2:3] == b"\n")


def test_pipes_and_rspecifier_options(tmp_path):
    gz = tmp_path / "lat.1.gz"
    write_compact_lattices(f"ark:| gzip -c > {gz}", [("u", compact())])
    assert gzip.decompress(gz.read_bytes())[:2] == b"u "
    back = list(read_compact_lattices(f"ark,s,cs:gunzip -c {gz}|"))
    assert same_compact(back[0][1], compact())
    with pytest.raises(LatticeIOError, match="command failed"):
        list(read_compact_lattices(f"ark:gunzip -c {tmp_path / 'missing.gz'}|"))


def test_archives_with_the_old_marker_still_read(tmp_path):
    path = tmp_path / "old.gz"
    path.write_bytes(gzip.compress(b"u1 \0B" + compact_lattice_to_bytes(compact())))
    assert same_compact(dict(read_compact_lattices(path))["u1"], compact())


def test_not_an_fst_names_file_and_utterance(tmp_path):
    path = tmp_path / "lat.ark"
    path.write_bytes(b"u9 Xjunk")
    with pytest.raises(LatticeIOError, match=r"lat\.ark: cannot read lattice for utterance 'u9'.*not appear"):
        list(read_compact_lattices(path))


def test_empty_and_dead_states_print_as_kaldi():
    c = CompactLattice()
    for _ in range(3):
        c.add_state()
    c.start = 0
    c.add_arc(0, 2, (1.0, 2.0), [4], 1)
    c.set_final(1, (0.0, 0.0))
    from kaldi_kd.decode.lattice_codec import compact_lattice_to_text

    # state 2 (no arcs, not final) is printed as OpenFst does: its Zero final weight
    assert compact_lattice_to_text(c) == "\n0\t1\t2\t1,2,4\n1\n2\tInfinity,Infinity,\n\n"
    assert compact_lattice_to_text(CompactLattice()) == "\n\n"


# ---------------------------------------------------------------- graphs: vector or const
def small_fst():
    from kaldi_kd.kaldi.wheels import kaldifst

    f = kaldifst.StdVectorFst()
    s0, s1, s2 = f.add_state(), f.add_state(), f.add_state()
    f.start = s0
    f.add_arc(s0, kaldifst.StdArc(1, 2, 0.5, s1))
    f.add_arc(s0, kaldifst.StdArc(0, 3, 0.25, s2))
    f.add_arc(s1, kaldifst.StdArc(4, 0, 0.0, s2))
    f.set_final(s2, 1.5)
    return f


def test_const_graphs_read_like_vector_ones(tmp_path):
    from kaldi_kd.gmm.fstutils import read_fst, read_fst_header, write_const_fst

    f = small_fst()
    write_const_fst(f, tmp_path / "c.fst")
    f.write(str(tmp_path / "v.fst"))
    assert read_fst_header((tmp_path / "c.fst").read_bytes()).fst_type == "const"
    assert read_fst(tmp_path / "c.fst").to_str() == read_fst(tmp_path / "v.fst").to_str() == f.to_str()


@pytest.mark.skipif(shutil.which("fstconvert") is None, reason="needs fstconvert (Debian libfst-tools)")
def test_const_bytes_are_fstconverts(tmp_path):
    from kaldi_kd.gmm.fstutils import write_const_fst

    f = small_fst()
    f.write(str(tmp_path / "v.fst"))
    subprocess.run(["fstconvert", "--fst_type=const", str(tmp_path / "v.fst"), str(tmp_path / "k.fst")], check=True)
    write_const_fst(f, tmp_path / "c.fst")
    assert (tmp_path / "c.fst").read_bytes() == (tmp_path / "k.fst").read_bytes()


def test_unknown_fst_type_is_named(tmp_path):
    from kaldi_kd.gmm.fstutils import read_fst
    from kaldi_kd.gmm.symbols import LangError

    f = small_fst()
    f.write(str(tmp_path / "v.fst"))
    data = bytearray((tmp_path / "v.fst").read_bytes())
    data[8:14] = b"vectox"
    (tmp_path / "bad.fst").write_bytes(bytes(data))
    with pytest.raises(LangError, match=r"bad\.fst: cannot read as an OpenFST graph \(fst type 'vectox'"):
        read_fst(tmp_path / "bad.fst")


# ---------------------------------------------------------------- header properties vs OpenFst
def _openfst_built_as_kaldis_text_reader(lat: Lattice):
    """A kaldifst.Lattice built with OpenFst's mutable calls in the order Kaldi's text reader
    makes them (AddState up to the line's state, SetStart on line 1, AddArc / SetFinal)."""
    from kaldi_kd.decode.lattice_codec import _lattice_lines
    from kaldi_kd.kaldi.wheels import kaldifst

    f, nth = kaldifst.Lattice(), {}
    for i, (_, ev) in enumerate(_lattice_lines(lat)):
        s = ev[1]
        while s >= f.num_states:
            f.add_state()
        if i == 0:
            f.start = s
        if ev[0] == "arc":
            il, ol, g, a, d = lat.arcs[s][nth.get(s, 0)]
            nth[s] = nth.get(s, 0) + 1
            f.add_arc(s, kaldifst.LatticeArc(il, ol, kaldifst.LatticeWeight(g, a), d))
            while d >= f.num_states:
                f.add_state()
        else:
            g, a = lat.finals.get(s, (float("inf"), float("inf")))
            f.set_final(s, kaldifst.LatticeWeight(g, a))
    return f


def _random_lattice(rng, n: int) -> Lattice:
    lat = Lattice(arcs=[[] for _ in range(n)], start=int(rng.integers(0, n)))
    for s in range(n):
        for _ in range(int(rng.integers(0, 4))):
            g, a = (0.0, 0.0) if rng.random() < 0.3 else (float(rng.normal()), float(rng.normal()))
            lat.arcs[s].append((int(rng.integers(0, 3)), int(rng.integers(0, 3)), g, a, int(rng.integers(0, n))))
        if rng.random() < 0.3:
            lat.finals[s] = (0.0, 0.0) if rng.random() < 0.5 else (1.5, 0.25)
    return lat


def test_binary_bytes_equal_openfsts_after_kaldis_text_reader(tmp_path):
    """Our header properties are the ones OpenFst keeps after Kaldi's text reader built the
    lattice: our bytes = OpenFst's own VectorFst::Write of it (cyclic, epsilon, unsorted,
    weighted and unweighted lattices, dead states)."""
    import numpy as np

    from kaldi_kd.decode.lattice_codec import lattice_to_bytes

    rng = np.random.default_rng(0)
    lats = [compact_to_lattice(compact())] + [_random_lattice(rng, int(rng.integers(1, 7))) for _ in range(200)]
    for lat in lats:
        _openfst_built_as_kaldis_text_reader(lat).write(str(tmp_path / "x.lat"))
        assert lattice_to_bytes(lat) == (tmp_path / "x.lat").read_bytes()
