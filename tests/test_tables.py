"""Kaldi table round trips: matrices, float/double vectors, int vectors (ali.N.gz), corrupt input."""

import gzip

import numpy as np
import pytest

from kaldi_kd.data.tables import (ScpReader, TableError, read_int_vectors, read_table, read_table_dict,
                                  write_int_vectors, write_table)


def _rng():
    return np.random.default_rng(0)


def test_matrix_ark_scp_round_trip(tmp_path):
    items = [(f"utt{i}", _rng().normal(size=(5 + i, 3)).astype(np.float32)) for i in range(4)]
    n = write_table(tmp_path / "feats.ark", items, scp=tmp_path / "feats.scp")
    assert n == 4
    back = read_table_dict(f"scp:{tmp_path / 'feats.scp'}")
    for k, v in items:
        assert back[k].dtype == np.float32
        np.testing.assert_array_equal(back[k], v)
    assert [k for k, _ in read_table(tmp_path / "feats.ark")] == [k for k, _ in items]
    r = ScpReader(tmp_path / "feats.scp")
    np.testing.assert_array_equal(r["utt2"], items[2][1])
    with pytest.raises(KeyError, match="feats.scp: no entry for utterance 'nope'"):
        r["nope"]


def test_double_matrix_keeps_precision(tmp_path):
    stats = np.array([[1.0 + 1e-12, 2.0, 3.0], [4.0, 5.0, 0.0]])
    write_table(tmp_path / "cmvn.ark", [("spk1", stats)], scp=tmp_path / "cmvn.scp")
    back = read_table_dict(tmp_path / "cmvn.scp")["spk1"]
    assert back.dtype == np.float64
    np.testing.assert_array_equal(back, stats)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_vector_round_trip(tmp_path, dtype):
    vecs = [("a", np.array([0.5, -1.25, 3.0], dtype=dtype)), ("b", np.zeros(0, dtype=dtype)),
            ("c", _rng().normal(size=17).astype(dtype))]
    write_table(tmp_path / "v.ark", vecs, scp=tmp_path / "v.scp")
    for spec in (tmp_path / "v.ark", f"scp:{tmp_path / 'v.scp'}"):
        back = read_table_dict(spec)
        for k, v in vecs:
            assert back[k].ndim == 1 and back[k].dtype == dtype
            np.testing.assert_array_equal(back[k], v)


def test_ali_gz_int_vector_round_trip(tmp_path):
    alis = [(f"spk1-{i:03d}", _rng().integers(1, 500, size=50 + i).astype(np.int32)) for i in range(3)]
    path = tmp_path / "ali.1.gz"
    assert write_int_vectors(path, alis) == 3
    with gzip.open(path, "rb") as f:  # really gzip'd, Kaldi binary ark
        head = f.read(20)
    assert head.startswith(b"spk1-000 \x00B")
    back = list(read_int_vectors(path))
    assert [k for k, _ in back] == [k for k, _ in alis]
    for (_, a), (_, b) in zip(alis, back):
        assert b.dtype == np.int32
        np.testing.assert_array_equal(a, b)


def test_compressed_matrix_is_close(tmp_path):
    m = _rng().normal(size=(40, 13)).astype(np.float32)
    write_table(tmp_path / "c.ark", [("u", m)], scp=tmp_path / "c.scp", compress=True)
    back = read_table_dict(tmp_path / "c.scp")["u"]
    assert back.shape == m.shape
    assert np.abs(back - m).max() < 0.05


def test_corrupt_ark_names_the_file(tmp_path):
    items = [(f"u{i}", np.ones((4, 3), np.float32) * i) for i in range(3)]
    ark = tmp_path / "feats.ark"
    write_table(ark, items)
    data = ark.read_bytes()
    ark.write_bytes(data[: len(data) - 20])  # truncated in the last entry
    with pytest.raises(TableError, match=r"feats\.ark: corrupt or unreadable ark after utterance 'u1'"):
        list(read_table(ark))
    ark.write_bytes(b"garbage that is not an ark")
    with pytest.raises(TableError, match=r"feats\.ark"):
        list(read_table(ark))


def test_missing_table_and_bad_key(tmp_path):
    with pytest.raises(TableError, match="nothere.ark: no such table file"):
        list(read_table(tmp_path / "nothere.ark"))
    with pytest.raises(TableError, match="invalid key"):
        write_table(tmp_path / "x.ark", [("has space", np.zeros((1, 1), np.float32))])
    assert not (tmp_path / "x.ark").exists()  # atomic: nothing left behind


def test_duplicate_key_is_an_error(tmp_path):
    write_table(tmp_path / "d.ark", [("a", np.zeros(2, np.float32)), ("a", np.ones(2, np.float32))])
    with pytest.raises(TableError, match="d.ark: duplicate key 'a'"):
        read_table_dict(tmp_path / "d.ark")


def test_kaldi_native_io_reads_what_we_write(tmp_path):
    """A second, independent Kaldi table implementation (kaldi-native-io's C++) reads our files."""
    knio = pytest.importorskip("kaldi_native_io")
    mats = [(f"u{i}", _rng().normal(size=(3 + i, 4)).astype(np.float32)) for i in range(3)]
    write_table(tmp_path / "m.ark", mats, scp=tmp_path / "m.scp")
    got = {k: np.array(v) for k, v in knio.SequentialFloatMatrixReader(f"scp:{tmp_path / 'm.scp'}")}
    for k, v in mats:
        np.testing.assert_array_equal(got[k], v)
    stats = np.arange(10, dtype=np.float64).reshape(2, 5)
    write_table(tmp_path / "c.ark", [("spk", stats)])
    (k, v), = [(k, np.array(v)) for k, v in knio.SequentialDoubleMatrixReader(f"ark:{tmp_path / 'c.ark'}")]
    np.testing.assert_array_equal(v, stats)
    ali = np.array([1, 5, 5, 9, 2], dtype=np.int32)
    write_int_vectors(tmp_path / "ali.1.gz", [("u0", ali)])
    rd = knio.SequentialInt32VectorReader(f"ark:gunzip -c {tmp_path / 'ali.1.gz'}|")
    (k, v), = [(k, list(v)) for k, v in rd]
    assert k == "u0" and v == ali.tolist()
