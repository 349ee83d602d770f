"""Teacher LMs: each kind overfits a tiny corpus, no leak of s_k into q_k, resume, frozen loading."""

import gzip
import math

import numpy as np
import pytest
import torch

from kaldi_kd.lm import KINDS, Teacher
from kaldi_kd.lm.corpus import write_vocab
from kaldi_kd.lm.models import ModelConfig, UnitLM
from kaldi_kd.lm.train import LMConfig, load_teacher, train_lm

torch.set_num_threads(1)
V = 10


def _corpus(d, n_train=300, n_valid=30, seed=0):
    """Sequences of a fixed cycle 0..V-1 from a random start (predictable from either side)."""
    rng = np.random.default_rng(seed)
    d.mkdir(parents=True, exist_ok=True)
    write_vocab(d / "units.txt", [f"u{i}" for i in range(V)])
    for name, n in (("train", n_train), ("valid", n_valid)):
        with gzip.open(d / f"{name}.txt.gz", "wt") as f:
            for _ in range(n):
                s, k = rng.integers(V), rng.integers(4, 12)
                f.write(" ".join(str((s + 3 * i) % V) for i in range(k)) + "\n")
    return d


def _cfg(kind, **kw):
    base = dict(kind=kind, d_model=32, n_heads=2, n_layers=1, d_ff=64, dropout=0.0, batch_size=16,
                max_steps=150, lr=5e-3, warmup_steps=10, checkpoint_every=50, valid_every=75, num_threads=1)
    base.update(kw)
    return LMConfig(**base)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return _corpus(tmp_path_factory.mktemp("lm") / "corpus")


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_overfits(corpus, tmp_path, kind):
    cfg = _cfg(kind, max_steps=250 if kind == "masked" else 150)
    ppl = train_lm(corpus, tmp_path / kind, cfg, progress=False)
    # causal: the first unit is unpredictable (V), the rest deterministic → ppl ≈ V^(1/8);
    # masked/bidir see both neighbours. Uniform would be V = 10.
    assert ppl < 2.5, ppl
    assert (tmp_path / kind / "ppl").read_text().startswith("valid_ppl")
    assert "valid_ppl" in (tmp_path / kind / "log" / "train.log").read_text()
    t = load_teacher(tmp_path / kind, "cpu")
    assert isinstance(t, Teacher) and t.kind == kind and t.vocab_size == V
    assert not any(p.requires_grad for p in t.parameters())
    units = torch.tensor([[2, 5, 8, 1, 4, 7]])
    q = t.segment_probs(units, torch.tensor([6]))
    assert q.shape == (1, 6, V) and torch.allclose(q.sum(-1), torch.ones(1, 6))
    assert q[0, 3].argmax().item() == 1  # the cycle continues


@pytest.mark.parametrize("kind", KINDS)
def test_no_leak_of_own_token(kind):
    """Changing s_k never changes q_k (and, for causal, nothing before k changes either)."""
    torch.manual_seed(0)
    m = UnitLM(V, ModelConfig(kind=kind, d_model=32, n_heads=2, n_layers=3, d_ff=64)).eval()
    units = torch.randint(0, V, (2, 9))
    lengths = torch.tensor([9, 6])
    q = m.segment_probs(units, lengths)
    for k in range(6):
        changed = units.clone()
        changed[:, k] = (changed[:, k] + 1 + torch.arange(2)) % V
        q2 = m.segment_probs(changed, lengths)
        assert torch.allclose(q[:, k], q2[:, k], atol=1e-6), (kind, k)
        other = (q[0] - q2[0]).abs().amax(-1)
        if kind == "causal":
            assert torch.all(other[: k + 1] < 1e-6) and other[k + 1 :].max() > 1e-4
        else:
            assert other.max() > 1e-4  # the other positions do see s_k
    # padding does not matter
    short = m.segment_probs(units[1:, :6], lengths[1:])
    assert torch.allclose(short[0], q[1, :6], atol=1e-5)


def test_resume_continues_from_checkpoint(corpus, tmp_path):
    cfg = _cfg("causal", max_steps=50)
    train_lm(corpus, tmp_path, cfg, progress=False)
    assert (tmp_path / "ckpt" / "last.pt").exists()
    state = torch.load(tmp_path / "ckpt" / "last.pt")
    assert state["step"] == 50
    ppl = train_lm(corpus, tmp_path, _cfg("causal", max_steps=100), resume=True, progress=False)
    assert "resumed from" in (tmp_path / "log" / "train.log").read_text()
    assert torch.load(tmp_path / "ckpt" / "last.pt")["step"] == 100
    assert math.isfinite(ppl)
    assert LMConfig.from_yaml(tmp_path / "config.yaml").max_steps == 100


def test_config_rejects_unknown_keys(tmp_path):
    (tmp_path / "c.yaml").write_text("kind: bidir\nlayers: 3\n")
    with pytest.raises(ValueError, match="c.yaml.*layers"):
        LMConfig.from_yaml(tmp_path / "c.yaml")
