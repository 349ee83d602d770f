"""SoftTargetEngine: distributions, equality with the teacher's q per segment, top-k, chunks, subsampling."""

import numpy as np
import pytest
import torch

from kaldi_kd.kd.soft_targets import SoftTargetEngine
from kaldi_kd.lm.models import ModelConfig, UnitLM
from kaldi_kd.units.segments import Segments, from_frames

torch.set_num_threads(1)
V = 12


def _segments(seed=0, n=4):
    rng = np.random.default_rng(seed)
    out = {}
    for i in range(n):
        k = int(rng.integers(3, 15))
        durs = rng.integers(1, 9, k)
        out[f"utt{i}"] = Segments(rng.integers(0, V, k), np.cumsum(durs))
    return out


@pytest.fixture(scope="module", params=["causal", "masked", "bidir"])
def teacher(request):
    torch.manual_seed(0)
    return UnitLM(V, ModelConfig(kind=request.param, d_model=32, n_heads=2, n_layers=2, d_ff=64)).eval()


def _reference(teacher, seg, tau=1.0):
    units = torch.from_numpy(seg.units.astype(np.int64))[None]
    logits = teacher.segment_logits(units, torch.tensor([len(seg)]))[0]
    return torch.softmax(logits / tau, -1)


@pytest.mark.parametrize("subsampling", [1, 3])
def test_targets_equal_teacher_q_per_segment(teacher, subsampling):
    segs = _segments()
    eng = SoftTargetEngine(teacher, segs, tau=2.0, subsampling=subsampling)
    utts = ["utt2", "utt0", "utt2", "utt3"]  # a repeated utterance = two chunks
    starts = [0, 0, 2, 1]
    t_out = 20
    st = eng.targets(utts, torch.tensor(starts), t_out, "cpu")
    assert st.probs.shape == (4, t_out, V) and st.topk_values is None
    for b, (u, s) in enumerate(zip(utts, starts)):
        seg = segs[u]
        ref = _reference(teacher, seg, tau=2.0)
        frames = seg.to_frames()
        for t in range(t_out):
            f = (s + t) * subsampling
            if f >= seg.num_frames:
                assert not st.mask[b, t] and st.probs[b, t].abs().sum() == 0
                continue
            assert st.mask[b, t]
            k = int(np.searchsorted(seg.ends, f, side="right"))
            assert seg.units[k] == frames[f]
            assert torch.allclose(st.probs[b, t], ref[k], atol=1e-6)
    p = st.probs[st.mask]
    assert torch.allclose(p.sum(-1), torch.ones(len(p)), atol=1e-5)


def test_lengths_limit_mask(teacher):
    segs = _segments()
    eng = SoftTargetEngine(teacher, segs)
    st = eng.targets(["utt0", "utt1"], [0, 0], 10, "cpu", lengths=torch.tensor([4, 10]))
    assert st.mask[0, 4:].sum() == 0 and st.mask[0, :4].all()


def test_top_k_renormalised(teacher):
    segs = _segments()
    full = SoftTargetEngine(teacher, segs).targets(["utt1", "utt3"], [0, 0], 16, "cpu")
    eng = SoftTargetEngine(teacher, segs, top_k=3)
    st = eng.targets(["utt1", "utt3"], [0, 0], 16, "cpu")
    assert st.probs is None and st.topk_values.shape == (2, 16, 3)
    dense = st.dense(V)
    m = st.mask
    assert torch.all((dense[m] > 0).sum(-1) == 3)
    assert torch.allclose(dense[m].sum(-1), torch.ones(int(m.sum())), atol=1e-5)
    # the kept units are the 3 most probable and keep their ratios
    top = full.probs[m].topk(3, -1)
    assert torch.equal(st.topk_indices[m].sort(-1).values, top.indices.sort(-1).values)
    assert torch.allclose(st.topk_values[m], top.values / top.values.sum(-1, keepdim=True), atol=1e-5)


def test_cache_matches_and_is_used(teacher):
    segs = _segments()
    eng = SoftTargetEngine(teacher, segs, cache=True)
    ref = SoftTargetEngine(teacher, segs).targets(["utt0", "utt1"], [0, 3], 12, "cpu")
    a = eng.targets(["utt0", "utt1"], [0, 3], 12, "cpu")
    assert set(eng._cache) == {"utt0", "utt1"}
    b = eng.targets(["utt1", "utt0"], [3, 0], 12, "cpu")
    assert torch.allclose(a.probs, ref.probs, atol=2e-3)
    assert torch.allclose(b.probs[[1, 0]], a.probs, atol=1e-6)


def test_missing_utterance_named(teacher):
    eng = SoftTargetEngine(teacher, _segments())
    with pytest.raises(KeyError, match="nosuch"):
        eng.targets(["nosuch"], [0], 5, "cpu")


def test_alignment_frames_round_trip(teacher):
    """Per-frame unit of the segment a frame maps to equals the per-frame sequence."""
    frames = np.array([0, 0, 0, 5, 5, 5, 5, 5, 2, 2, 9, 9, 9, 9, 0, 0, 0, 0])
    seg = from_frames(frames)
    eng = SoftTargetEngine(teacher, {"u": seg})
    idx, mask, _ = eng.frame_index(["u"], [0], len(frames))
    assert mask.all() and np.array_equal(seg.units[idx[0]], frames)


def test_probs_only_teacher(teacher):
    """A teacher exposing only segment_probs gets the same tempered targets."""

    class ProbsOnly:
        kind, vocab_size = teacher.kind, teacher.vocab_size

        def segment_probs(self, units, lengths):
            return teacher.segment_probs(units, lengths)

    segs = _segments()
    a = SoftTargetEngine(teacher, segs, tau=3.0).targets(["utt1"], [0], 9, "cpu")
    b = SoftTargetEngine(ProbsOnly(), segs, tau=3.0).targets(["utt1"], [0], 9, "cpu")
    assert torch.allclose(a.probs, b.probs, atol=1e-5)


@pytest.mark.parametrize("top_k,cache", [(None, False), (4, False), (None, True)])
def test_neg_entropy_per_frame_matches_targets(teacher, top_k, cache):
    """sum q log q comes once per segment from the engine; it must equal the frames' own."""
    eng = SoftTargetEngine(teacher, _segments(), tau=1.5, top_k=top_k, cache=cache, subsampling=3)
    for _ in range(2 if cache else 1):                     # the second call reads the cache
        st = eng.targets(["utt2", "utt0"], [0, 1], 9, "cpu", lengths=torch.tensor([9, 3]))
    q = st.probs if top_k is None else st.topk_values
    want = torch.special.xlogy(q, q).sum(-1)
    assert st.neg_entropy.shape == st.mask.shape
    assert (st.neg_entropy[~st.mask] == 0).all() and (q[~st.mask] == 0).all()
    assert torch.allclose(st.neg_entropy[st.mask], want[st.mask], atol=5e-3 if cache else 1e-5)
    assert (st.neg_entropy[st.mask] < 0).all()
