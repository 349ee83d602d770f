"""Span-masked teachers: q_k never sees any unit of k's phone or word; group codes on disk;
early stopping; what a teacher knows (entropy, p(true), top-1); span teachers in the engine."""

import gzip
import math

import numpy as np
import pytest
import torch

from kaldi_kd.kd.soft_targets import SoftTargetEngine
from kaldi_kd.lm import KINDS
from kaldi_kd.lm.corpus import load_bounds, load_sequences, write_vocab
from kaldi_kd.lm.models import ModelConfig, UnitLM, group_index
from kaldi_kd.lm.train import EarlyStopping, LMConfig, load_teacher, teacher_stats, train_lm
from kaldi_kd.units.segments import Segments, group_spans

torch.set_num_threads(1)
V = 12


def _random_bounds(rng, k):
    b = rng.integers(0, 3, k).astype(np.int8)
    b[0] = 2
    return b


def test_group_spans_numpy_and_torch_agree():
    rng = np.random.default_rng(0)
    b = np.array([2, 0, 0, 1, 0, 2, 2, 1, 1], dtype=np.int8)
    first, last = group_spans(b, "word")
    assert first.tolist() == [0, 0, 0, 0, 0, 5, 6, 6, 6] and last.tolist() == [4, 4, 4, 4, 4, 5, 8, 8, 8]
    first, last = group_spans(b, "phone")
    assert first.tolist() == [0, 0, 0, 3, 3, 5, 6, 7, 8] and last.tolist() == [2, 2, 2, 4, 4, 5, 6, 7, 8]
    rows = [_random_bounds(rng, k) for k in (9, 4, 7)]
    padded = torch.full((3, 9), 2, dtype=torch.long)
    for i, r in enumerate(rows):
        padded[i, : len(r)] = torch.from_numpy(r.astype(np.int64))
    lengths = torch.tensor([9, 4, 7])
    for span in ("none", "phone", "word"):
        tf, tl = group_index(padded, lengths, span)
        for i, r in enumerate(rows):
            f, last = group_spans(r, span)
            assert tf[i, : len(r)].tolist() == f.tolist() and tl[i, : len(r)].tolist() == last.tolist(), span


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("span", ["phone", "word"])
def test_span_teacher_never_sees_its_group(kind, span):
    """Changing any unit of k's group leaves q_k unchanged; a unit outside the group changes it
    (bidir and masked see both sides; causal only what precedes the group)."""
    torch.manual_seed(0)
    m = UnitLM(V, ModelConfig(kind=kind, d_model=32, n_heads=2, n_layers=2, d_ff=64, span=span)).eval()
    rng = np.random.default_rng(1)
    units = torch.randint(0, V, (2, 10))
    lengths = torch.tensor([10, 8])
    b = np.stack([_random_bounds(rng, 10), _random_bounds(rng, 10)])
    bounds = torch.from_numpy(b.astype(np.int64))
    q = m.segment_probs(units, lengths, bounds)
    first, last = group_index(bounds, lengths, span)
    seen_outside = 0
    for n in range(2):
        for k in range(int(lengths[n])):
            for j in range(int(lengths[n])):
                changed = units.clone()
                changed[n, j] = (changed[n, j] + 1 + j) % V
                diff = (m.segment_probs(changed, lengths, bounds)[n, k] - q[n, k]).abs().max().item()
                inside = first[n, k] <= j <= last[n, k]
                if inside:
                    assert diff < 1e-6, (kind, span, n, k, j)
                elif kind == "causal" and j > last[n, k]:
                    assert diff < 1e-6, (kind, span, n, k, j)  # the future is never seen
                else:
                    seen_outside += diff > 1e-5
    assert seen_outside > 0
    # units of one word get different distributions (the offset inside the group)
    multi = [(n, k) for n in range(2) for k in range(int(lengths[n]) - 1) if first[n, k] == first[n, k + 1]]
    assert multi and any((q[n, k] - q[n, k + 1]).abs().max() > 1e-4 for n, k in multi)


def test_span_teacher_needs_bounds():
    m = UnitLM(V, ModelConfig(kind="bidir", d_model=16, n_heads=2, n_layers=1, d_ff=32, span="word")).eval()
    with pytest.raises(ValueError, match="group codes"):
        m.segment_logits(torch.zeros(1, 4, dtype=torch.long), torch.tensor([4]))


def _word_corpus(d, n_train=400, n_valid=40, seed=0):
    """Words of 3 units (w, w+1, w+2 mod V) in a fixed word cycle: predictable from the neighbours."""
    rng = np.random.default_rng(seed)
    d.mkdir(parents=True, exist_ok=True)
    write_vocab(d / "units.txt", [f"u{i}" for i in range(V)])
    for name, n in (("train", n_train), ("valid", n_valid)):
        with gzip.open(d / f"{name}.txt.gz", "wt") as f, gzip.open(d / f"{name}.bounds.gz", "wt") as fb:
            for _ in range(n):
                w0, nw = int(rng.integers(4)), int(rng.integers(3, 7))
                units = [(3 * ((w0 + i) % 4) + j) % V for i in range(nw) for j in range(3)]
                f.write(" ".join(map(str, units)) + "\n")
                fb.write("200" * nw + "\n")
    return d


@pytest.fixture(scope="module")
def word_corpus(tmp_path_factory):
    return _word_corpus(tmp_path_factory.mktemp("span") / "corpus")


def _cfg(**kw):
    base = dict(kind="bidir", span="word", d_model=32, n_heads=2, n_layers=1, d_ff=64, dropout=0.0, batch_size=16,
                max_steps=300, lr=5e-3, warmup_steps=10, checkpoint_every=50, valid_every=25, num_threads=1)
    base.update(kw)
    return LMConfig(**base)


def test_bounds_file_checked(word_corpus, tmp_path):
    seqs = load_sequences(word_corpus / "valid.txt.gz")
    rows = load_bounds(word_corpus / "valid.bounds.gz", seqs)
    assert [len(r) for r in rows] == [len(s) for s in seqs]
    bad = tmp_path / "b.gz"
    with gzip.open(bad, "wt") as f:
        f.write("2003\n")
    with pytest.raises(ValueError, match="b.gz:1"):
        load_bounds(bad, seqs[:1])
    with pytest.raises(FileNotFoundError, match="make_unit_corpus"):
        load_bounds(tmp_path / "none.gz", seqs)


@pytest.mark.parametrize("kind", ["bidir", "masked"])
def test_span_teacher_learns_words_from_context(word_corpus, tmp_path, kind):
    """Hidden whole words are still predictable from the neighbouring words (ppl far below V)."""
    cfg = _cfg(kind=kind, max_steps=300 if kind == "bidir" else 400, mask_prob=0.3)
    ppl = train_lm(word_corpus, tmp_path / kind, cfg, progress=False)
    assert ppl < 2.0, ppl
    t = load_teacher(tmp_path / kind)
    assert t.span == "word"
    seqs = load_sequences(word_corpus / "valid.txt.gz")
    st = teacher_stats(t, seqs, torch.device("cpu"), bounds=load_bounds(word_corpus / "valid.bounds.gz", seqs))
    assert st.ppl == pytest.approx(ppl, rel=1e-3) and st.top1 > 0.8 and st.p_true > 0.5
    assert 0 <= st.entropy < math.log(V)


def test_early_stopping_keeps_the_best(word_corpus, tmp_path):
    cfg = _cfg(max_steps=2000, patience=2, min_delta=0.5, valid_every=20)  # "improve by half" stops early
    train_lm(word_corpus, tmp_path, cfg, progress=False)
    curve = (tmp_path / "ppl_curve.tsv").read_text().splitlines()
    assert curve[0].split("\t")[:3] == ["step", "train_loss", "valid_ppl"]
    steps = [int(r.split("\t")[0]) for r in curve[1:]]
    ppls = [float(r.split("\t")[2]) for r in curve[1:]]
    assert steps[-1] < 2000 and len(steps) >= 3
    state = torch.load(tmp_path / "teacher.pt")
    assert state["step"] == steps[int(np.argmin(ppls))]
    saved = float((tmp_path / "ppl").read_text().split()[1])
    assert saved == pytest.approx(min(ppls), rel=1e-3)
    assert "early stop at step" in (tmp_path / "log" / "train.log").read_text()


def test_early_stopping_rule():
    s = EarlyStopping(patience=2, min_delta=0.1)
    assert s.update(10.0, 1) and s.update(8.0, 2)          # improvements
    assert s.update(7.9, 3) and not s.stop                 # better, but < 10 %: counted as bad, kept
    assert not s.update(8.5, 4) and s.stop and s.best_ppl == 7.9 and s.best_step == 3


def test_teacher_stats_by_hand():
    class Fixed(torch.nn.Module):
        kind, vocab_size, span = "causal", 3, "none"

        def segment_logits(self, units, lengths, bounds=None):
            p = torch.tensor([0.7, 0.2, 0.1]).log()
            return p.expand(units.shape[0], units.shape[1], 3).clone()

    seqs = [np.array([0, 1, 0]), np.array([2])]
    st = teacher_stats(Fixed(), seqs, torch.device("cpu"))
    nll = -(2 * math.log(0.7) + math.log(0.2) + math.log(0.1)) / 4
    ent = -sum(p * math.log(p) for p in (0.7, 0.2, 0.1))
    assert st.ppl == pytest.approx(math.exp(nll)) and st.entropy == pytest.approx(ent)
    assert st.p_true == pytest.approx((0.7 + 0.2 + 0.7 + 0.1) / 4) and st.top1 == pytest.approx(0.5)
    assert st.units == 4


def test_engine_passes_group_codes_to_span_teachers():
    torch.manual_seed(0)
    t = UnitLM(V, ModelConfig(kind="bidir", d_model=16, n_heads=2, n_layers=1, d_ff=32, span="word")).eval()
    seg = Segments(np.array([1, 2, 3, 4, 5]), np.array([2, 4, 6, 8, 10]), np.array([2, 0, 1, 2, 0]))
    eng = SoftTargetEngine(t, {"u1": seg})
    tg = eng.targets(["u1"], [0], 10, "cpu")
    ref = torch.softmax(t.segment_logits(torch.tensor([[1, 2, 3, 4, 5]]), torch.tensor([5]),
                                         torch.tensor([[2, 0, 1, 2, 0]])), -1)[0]
    assert torch.allclose(tg.probs[0, ::2], ref, atol=1e-6) and torch.allclose(tg.probs[0, 1::2], ref, atol=1e-6)
    no_bounds = SoftTargetEngine(t, {"u1": Segments(seg.units, seg.ends)})
    with pytest.raises(ValueError, match="u1 has no group codes"):
        no_bounds.targets(["u1"], [0], 10, "cpu")
