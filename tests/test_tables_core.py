"""Atomic writes and the core table API used by every stage."""

import numpy as np
import pytest

from kaldi_kd.data.atomic import atomic_path
from kaldi_kd.data.tables import TableError, write_table, read_table_dict


def test_atomic_path_keeps_old_file_on_error(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_key_with_space_rejected_and_nothing_written(tmp_path):
    ark = tmp_path / "x.ark"
    with pytest.raises(TableError, match="invalid key"):
        write_table(ark, [("a b", np.zeros((2, 2), np.float32))])
    assert not ark.exists()


def test_compressed_matrix_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    mat = rng.normal(size=(50, 13)).astype(np.float32)
    write_table(tmp_path / "c.ark", [("u1", mat)], scp=tmp_path / "c.scp", compress=True)
    got = read_table_dict(f"scp:{tmp_path / 'c.scp'}")["u1"]
    assert got.shape == mat.shape
    assert np.abs(got - mat).max() < 0.05 * np.abs(mat).max()
