"""AM data: batches, chunks, padding/masks, sampler resume and sharding, frame-count errors."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from am_toy import make_toy_corpus, toy_transition_model  # noqa: E402

from kaldi_kd.am.data import (BucketBatchSampler, DataConfig, FrameCountError, check_frame_counts,
                              count_pdfs, load_am_data, load_pdf_alignments, make_loader,
                              split_heldout, transition_id_to_pdf)
from kaldi_kd.data.tables import read_int_vectors, write_int_vectors

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    tid2pdf = transition_id_to_pdf(toy_transition_model())
    root = tmp_path_factory.mktemp("toy")
    data, ali, pdfs = make_toy_corpus(root, tid2pdf, num_utts=16)
    return data, ali, pdfs, tid2pdf


def _load(toy, **kw):
    data, ali, _, tid2pdf = toy
    return load_am_data(data, ali, tid2pdf, DataConfig(**kw), seed=1)


def test_alignments_map_to_pdfs(toy):
    data, ali, pdfs, tid2pdf = toy
    alis = load_pdf_alignments(ali, tid2pdf)
    assert set(alis) == set(pdfs)
    for u, a in alis.items():
        np.testing.assert_array_equal(a, pdfs[u])
    counts = count_pdfs(alis, 9)
    assert counts.sum() == sum(len(a) for a in pdfs.values())


def test_utterance_batches(toy):
    am = _load(toy, valid_fraction=0.25)
    assert len(am.valid_utts) == 4 and not set(am.valid_utts) & set(am.train_utts)
    ds = am.dataset(am.train_utts, DataConfig(), 1, chunked=False)
    sampler = BucketBatchSampler(ds.item_lengths(), max_frames=150, seed=3)
    seen = []
    for b in make_loader(ds, sampler, 1):
        B, T, F = b.feats.shape
        assert F == 8 and b.targets.shape == (B, T) and b.mask.shape == (B, T)
        assert B * T <= 150 or B == 1
        assert int(b.lengths.max()) == T
        assert torch.equal(b.mask, b.targets != -100)
        assert torch.equal(b.starts, torch.zeros(B, dtype=torch.long))
        for i, u in enumerate(b.utt_ids):
            L = int(b.lengths[i])
            np.testing.assert_array_equal(b.targets[i, :L].numpy(), toy[2][u])
            assert (b.targets[i, L:] == -100).all() and (b.feats[i, L:] == 0).all()
        seen += b.utt_ids
    assert sorted(seen) == sorted(am.train_utts)


def test_cmvn_zero_mean_per_speaker(toy):
    am = _load(toy)
    x = np.concatenate([am.features[u] for u in am.features.utts() if u.startswith("spk2")])
    assert np.abs(x.mean(0)).max() < 1e-4


@pytest.mark.parametrize("s", [1, 3])
def test_chunk_batches_targets_only_on_centre(toy, s):
    am = _load(toy, valid_fraction=0.0)
    ds = am.dataset(am.train_utts, DataConfig(chunk_width=12, chunk_left_context=6,
                                                 chunk_right_context=3), s, chunked=True)
    covered = {u: np.zeros(len(toy[2][u]), bool) for u in am.train_utts}
    for b in make_loader(ds, BucketBatchSampler(ds.item_lengths(), 100, seed=0), s):
        assert b.targets.shape[1] == -(-b.feats.shape[1] // s)
        for i, u in enumerate(b.utt_ids):
            ref = toy[2][u][::s]
            js = torch.nonzero(b.mask[i]).flatten().numpy()
            assert len(js) > 0
            out = int(b.starts[i]) + js                    # utterance output frames
            np.testing.assert_array_equal(b.targets[i, js].numpy(), ref[out])
            assert len(js) <= 12 // s
            covered[u][out * s] = True
    for u, c in covered.items():                           # every output frame once
        assert c[:: s].all()


def test_chunk_sizes_must_be_multiples_of_subsampling(toy):
    am = _load(toy)
    with pytest.raises(ValueError, match="chunk_width"):
        am.dataset(am.train_utts, DataConfig(chunk_width=10), 3, chunked=True)


def test_sampler_resume_and_epochs():
    lengths = list(np.random.default_rng(0).integers(10, 100, size=50))
    a = BucketBatchSampler(lengths, 300, seed=7)
    a.set_epoch(2)
    full = list(a)
    b = BucketBatchSampler(lengths, 300, seed=7)
    b.load_state_dict({"epoch": 2, "position": 3})
    assert list(b) == full[3:]
    assert list(b) == full                     # next pass starts the epoch from 0 again
    a.set_epoch(3)
    assert list(a) != full                     # a new epoch reshuffles
    assert sorted(i for bt in full for i in bt) == list(range(50))


def test_sampler_shards_by_rank():
    lengths = list(range(10, 60))
    shards = [list(BucketBatchSampler(lengths, 200, seed=1, rank=r, world_size=2)) for r in range(2)]
    assert len(shards[0]) == len(shards[1]) > 0
    ids0 = {i for b in shards[0] for i in b}
    ids1 = {i for b in shards[1] for i in b}
    assert not ids0 & ids1


def test_workers_give_same_batches(toy):
    am = _load(toy)
    ds = am.dataset(am.train_utts, DataConfig(), 1, chunked=False)
    b0 = list(make_loader(ds, BucketBatchSampler(ds.item_lengths(), 150, seed=2), 1))
    b2 = list(make_loader(ds, BucketBatchSampler(ds.item_lengths(), 150, seed=2), 1, num_workers=2))
    assert [b.utt_ids for b in b0] == [b.utt_ids for b in b2]
    assert all(torch.equal(x.feats, y.feats) for x, y in zip(b0, b2))


def test_frame_count_mismatch_lists_utterances(toy, tmp_path):
    data, ali, _, tid2pdf = toy
    bad = tmp_path / "ali"
    bad.mkdir()
    items = []
    for i, (u, a) in enumerate(read_int_vectors(str(ali / "ali.1.gz"))):
        items.append((u, a[:-2] if i in (1, 3) else a))
    write_int_vectors(bad / "ali.1.gz", items)
    with pytest.raises(FrameCountError) as err:
        load_am_data(data, bad, tid2pdf, DataConfig())
    msg = str(err.value)
    assert "2 utterance(s)" in msg and items[1][0] in msg and items[3][0] in msg
    assert items[0][0] not in msg
    check_frame_counts({"a": 3}, {"a": np.zeros(3, np.int32)})   # equal: no error


def test_missing_files_are_named(toy, tmp_path):
    _, ali, _, tid2pdf = toy
    with pytest.raises(FileNotFoundError, match="feats.scp"):
        load_am_data(tmp_path, ali, tid2pdf, DataConfig())


def test_heldout_split_is_seeded():
    utts = [f"u{i}" for i in range(40)]
    assert split_heldout(utts, 0.1, 100, 5) == split_heldout(utts, 0.1, 100, 5)
    tr, va = split_heldout(utts, 0.1, 2, 5)
    assert len(va) == 2 and len(tr) == 38
