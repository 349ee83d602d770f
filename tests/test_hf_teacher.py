"""Pretrained (Hugging Face) LM teachers on tiny local models: tokens → frames, no leak,
top-k targets, the disk cache, a KD step.  Skipped cleanly when transformers is absent."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from hf_tiny import bpe_tokenizer, lm_lines, save_bert, save_gpt2, wordpiece_tokenizer  # noqa: E402
from kaldi_kd.kd.hf_cache import TopKCache, cached_topk  # noqa: E402
from kaldi_kd.kd.hf_engine import build_hf_engine  # noqa: E402
from kaldi_kd.lm.hf import HFTeacher, load_hf_teacher  # noqa: E402
from kaldi_kd.lm.hf_options import HFOptions  # noqa: E402
from kaldi_kd.units.lm_words import NO_TARGET, TokenizationError, WordNormalizer  # noqa: E402

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]
WORDS = ["one", "two", "three", "four", "five", "oh", "zero", "a"]
KNOWN_VOCAB = ["one", "two", "th", "##ree", "f", "##our", "a", "##s", "t", "##wo"]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("hf")
    lines = lm_lines(WORDS, 300)
    return {
        "gpt2": save_gpt2(d / "gpt2", bpe_tokenizer(lines)),
        "bert": save_bert(d / "bert", wordpiece_tokenizer(lines)),
        "bert_known": save_bert(d / "bert_known", wordpiece_tokenizer(vocab=KNOWN_VOCAB)),
    }


def _spans(words, seed=0, sil=True):
    """Word spans with silence between some words (frames 6..14 per word)."""
    rng = np.random.default_rng(seed)
    out, t = [], 0
    if sil:
        out.append((None, 0, 5))
        t = 5
    for i, w in enumerate(words):
        n = int(rng.integers(6, 15))
        out.append((w, t, t + n))
        t += n
        if sil and i % 2:
            out.append((None, t, t + 3))
            t += 3
    return out


# ---- words → tokens → frames ---------------------------------------------------------------

def test_known_words_map_to_tokens_and_frames_by_characters(models):
    t = load_hf_teacher(models["bert_known"], "cpu")
    spans = [(None, 0, 5), ("ONE", 5, 15), ("THREE", 15, 25), (None, 25, 30), ("<unk>", 30, 34), ("FOUR", 34, 42)]
    toks = t.encode_spans(spans, WordNormalizer("lower"), "utt1")
    ids = t.tokenizer.convert_tokens_to_ids
    assert t.tokenizer.convert_ids_to_tokens(toks.input_ids.tolist()) == \
        ["[CLS]", "one", "th", "##ree", "f", "##our", "[SEP]"]
    assert toks.word_of.tolist() == [-1, 0, 1, 1, 2, 2, -1]
    # THREE: 10 frames shared 2:3 by characters (th|ree); FOUR: 8 frames 1:3 (f|our);
    # silence and the skipped <unk> merge into one segment without a target
    assert toks.segments.units.tolist() == [NO_TARGET, ids("one"), ids("th"), ids("##ree"), NO_TARGET, ids("f"),
                                            ids("##our")]
    assert toks.segments.ends.tolist() == [5, 15, 19, 25, 34, 36, 42]
    assert toks.target_pos.tolist() == [-1, 1, 2, 3, -1, 4, 5]
    assert toks.segments.bounds.tolist() == [2, 2, 2, 0, 2, 2, 0]  # group codes: words open at their first token


def test_fewer_frames_than_tokens_keeps_the_first_tokens(models):
    t = load_hf_teacher(models["bert_known"], "cpu")
    toks = t.encode_spans([("three", 0, 1), ("two", 1, 4)], WordNormalizer(), "u")
    assert toks.segments.ends.tolist() == [1, 4]
    assert t.tokenizer.convert_ids_to_tokens(toks.segments.units.tolist()) == ["th", "two"]
    assert toks.predicted_positions().tolist() == [1, 3]  # ##ree is read by the LM but predicts nothing


def test_byte_level_bpe_tokens_cover_each_word_and_causal_gets_bos(models):
    t = load_hf_teacher(models["gpt2"], "cpu")
    assert t.kind == "causal"
    words = ["three", "zero", "oh", "fourfive"]
    toks = t.encode_spans(_spans(words), WordNormalizer(), "u")
    assert toks.input_ids[0] == t.tokenizer.convert_tokens_to_ids("<|endoftext|>") and toks.word_of[0] == -1
    for w, word in enumerate(words):
        pieces = t.tokenizer.convert_ids_to_tokens(toks.input_ids[toks.word_of == w].tolist())
        assert "".join(pieces).replace("\u0120", "") == word
    seg = toks.segments
    starts = dict((w, s) for w, s, _ in _spans(words))
    # every word's span is tiled by its own tokens' segments
    for (word, s, e) in _spans(words):
        inside = (seg.starts >= s) & (seg.ends <= e)
        if word is None:
            assert set(seg.units[inside].tolist()) <= {NO_TARGET}
        else:
            assert seg.starts[inside][0] == starts[word] and seg.ends[inside][-1] == e
            assert (seg.units[inside] >= 0).all()


def test_case_and_spelling_normalisation():
    n = WordNormalizer("sentence", {"MR": "mister", "NEWYORK": "New York"})
    assert n.lm_words(["MR", "SMITH", "[noise]", "NEWYORK"]) == ["Mister", "smith", None, "new york"]
    assert WordNormalizer("upper").lm_words(["a", "<unk>"]) == ["A", None]
    assert WordNormalizer("keep", skip="").lm_words(["<unk>"]) == ["<unk>"]


def test_spelling_map_file_errors_name_the_line(tmp_path):
    from kaldi_kd.units.lm_words import read_spelling_map

    f = tmp_path / "map.txt"
    f.write_text("COLOUR color\nMR\n")
    with pytest.raises(ValueError, match=r"map.txt:2"):
        read_spelling_map(f)


def test_utterance_without_lm_words_is_named(models):
    t = load_hf_teacher(models["bert_known"], "cpu")
    with pytest.raises(TokenizationError, match="utt9"):
        t.encode_spans([(None, 0, 4), ("<unk>", 4, 9)], WordNormalizer(), "utt9")


# ---- no leak --------------------------------------------------------------------------------

def _token_logits(t: HFTeacher, units, bounds=None):
    u = torch.tensor([units])
    b = None if bounds is None else torch.tensor([bounds])
    return t.segment_logits(u, torch.tensor([len(units)]), b)[0]


def test_masked_teacher_never_sees_the_predicted_word(models):
    t = load_hf_teacher(models["bert_known"], "cpu")
    assert t.kind == "masked"
    ids = t.tokenizer.convert_tokens_to_ids
    # one | th ##ree | two : word 2 has two tokens
    base = [ids("one"), ids("th"), ids("##ree"), ids("two")]
    bounds = [2, 2, 0, 2]
    z = _token_logits(t, base, bounds)
    other_word = [ids("one"), ids("f"), ids("##our"), ids("two")]  # the predicted word replaced
    z2 = _token_logits(t, other_word, bounds)
    assert torch.equal(z[1:3], z2[1:3]), "a word's own tokens changed its prediction"
    assert not torch.allclose(z[0], z2[0]) and not torch.allclose(z[3], z2[3])  # context did change
    # without bounds each token is masked alone: ##ree then sees th, so the two paths differ
    assert not torch.allclose(_token_logits(t, base)[2], z[2])


def test_masked_rows_match_encode_spans_path(models):
    t = load_hf_teacher(models["bert_known"], "cpu")
    toks = t.encode_spans([("one", 0, 8), ("three", 8, 20), ("two", 20, 30)], WordNormalizer(), "u")
    dense = t.logits([toks])[0]
    ids = t.tokenizer.convert_tokens_to_ids
    z = _token_logits(t, [ids("one"), ids("th"), ids("##ree"), ids("two")], [2, 2, 0, 2])
    assert torch.allclose(dense, z, atol=1e-5)


def test_causal_teacher_sees_only_earlier_tokens(models):
    t = load_hf_teacher(models["gpt2"], "cpu")
    seq = t.tokenizer("one two three four", add_special_tokens=False)["input_ids"]
    alt = seq[:2] + t.tokenizer(" zero oh", add_special_tokens=False)["input_ids"]
    n = min(len(seq), len(alt))
    z, z2 = _token_logits(t, seq[:n]), _token_logits(t, alt[:n])
    assert torch.allclose(z[:3], z2[:3], atol=1e-6)  # position k reads t_<k only: 0..2 share their past
    assert not torch.allclose(z[3:], z2[3:])


# ---- top-k targets, head vocabulary, cache ------------------------------------------------------

def _utts(words_per_utt):
    return {f"u{i}": _spans(ws, seed=i) for i, ws in enumerate(words_per_utt)}


UTTS = [["one", "two", "three"], ["four", "oh", "zero", "five"], ["a", "three"], ["two", "two", "one", "four"]]


@pytest.mark.parametrize("name", ["gpt2", "bert"])
def test_topk_targets_are_renormalised_teacher_probabilities(models, name):
    spans = _utts(UTTS)
    eng = build_hf_engine(f"hf:{models[name]}", spans, HFOptions(), tau=2.0, top_k=4, progress=False)
    t = load_hf_teacher(models[name], "cpu")
    for utt in spans:
        toks = t.encode_spans(spans[utt], WordNormalizer(), utt)
        dense = t.logits([toks])[0]
        q_full = torch.softmax(dense / 2.0, -1)
        vals, idx = q_full.topk(4, -1)
        vals = vals / vals.sum(-1, keepdim=True)
        v, i, h = eng.segment_targets([utt], torch.device("cpu"))[0]
        rows = np.searchsorted(toks.predicted_positions(), toks.target_pos[toks.target_pos >= 0])
        has = torch.from_numpy(toks.target_pos >= 0)
        assert torch.allclose(v[has], vals[rows], atol=2e-3)  # float16 storage
        assert torch.equal(torch.from_numpy(eng.head_tokens)[i[has]], idx[rows])
        assert torch.allclose(v[has].sum(-1), torch.ones(int(has.sum())), atol=2e-3)
        assert (v[~has] == 0).all() and (h[~has] == 0).all()
    # the reduced head holds the utterances' tokens and every top-k token, nothing else
    seen = set()
    for utt in spans:
        toks = t.encode_spans(spans[utt], WordNormalizer(), utt)
        seen |= set(toks.segments.units[toks.segments.units >= 0].tolist())
        seen |= set(t.topk([toks], 4)[0][1].reshape(-1).tolist())
    assert set(eng.head_tokens.tolist()) == seen and eng.vocab_size == len(seen) < t.vocab_size


def test_silence_frames_have_no_target_and_full_vocab_option(models):
    spans = _utts(UTTS)
    eng = build_hf_engine(f"hf:{models['gpt2']}", spans, HFOptions(vocab="full"), tau=1.0, top_k=3,
                          progress=False)
    assert eng.vocab_size == load_hf_teacher(models["gpt2"], "cpu").vocab_size
    st = eng.targets(["u0", "u1"], torch.tensor([0, 2]), 20, "cpu")
    for b, (utt, start) in enumerate((("u0", 0), ("u1", 2))):
        frames = np.arange(start, start + 20)
        seg = eng.segments[utt]
        ok = frames < seg.num_frames
        unit = np.full(20, NO_TARGET)
        unit[ok] = seg.units[seg.frame_index(frames[ok])]
        assert st.mask[b].tolist() == (unit >= 0).tolist()
        assert torch.equal(st.topk_values[b][~st.mask[b]], torch.zeros(int((~st.mask[b]).sum()), 3))


class _Counting:
    """Wraps a teacher loader and counts utterances scored."""

    def __init__(self) -> None:
        self.scored = 0

    def __call__(self, model_dir, device, options):
        teacher = load_hf_teacher(model_dir, device, options)
        inner = teacher.topk

        def topk(items, k):
            self.scored += len(items)
            return inner(items, k)

        teacher.topk = topk
        return teacher


def test_cache_reused_and_invalidated_by_a_changed_model_or_transcript(models, tmp_path):
    lines = lm_lines(WORDS, 300)
    model = save_gpt2(tmp_path / "m", bpe_tokenizer(lines), seed=1)
    spans = _utts(UTTS)
    opts = HFOptions(cache=str(tmp_path / "cache"))
    first = _Counting()
    e1 = build_hf_engine(f"hf:{model}", spans, opts, 2.0, 4, loader=first, progress=False)
    assert first.scored == len(spans)
    again = _Counting()
    e2 = build_hf_engine(f"hf:{model}", spans, opts, 1.0, 4, loader=again, progress=False)  # another tau
    assert again.scored == 0
    v1, v2 = e1.segment_targets(["u1"], "cpu")[0][0], e2.segment_targets(["u1"], "cpu")[0][0]
    assert not torch.allclose(v1, v2)  # same cached logits, targets at each engine's own tau
    # a changed transcript recomputes that utterance only
    spans2 = dict(spans, u2=_spans(["five", "three"], seed=2))
    one = _Counting()
    build_hf_engine(f"hf:{model}", spans2, opts, 2.0, 4, loader=one, progress=False)
    assert one.scored == 1
    # a changed model (same files, other weights) is a new key: everything recomputed
    save_gpt2(model, bpe_tokenizer(lines), seed=2)
    changed = _Counting()
    e3 = build_hf_engine(f"hf:{model}", spans, opts, 2.0, 4, loader=changed, progress=False)
    assert changed.scored == len(spans)
    assert not torch.allclose(e3.segment_targets(["u1"], "cpu")[0][0].float(), v1.float())
    assert len(list((tmp_path / "cache").iterdir())) == 2


def test_cache_resumes_after_a_killed_run(models, tmp_path):
    t = load_hf_teacher(models["bert"], "cpu")
    spans = _utts(UTTS * 3)
    items = {u: t.encode_spans(s, WordNormalizer(), u) for u, s in spans.items()}
    cache = TopKCache(tmp_path, t.fingerprint())
    calls = []
    inner = t.topk

    def dying(batch, k):
        if calls:
            raise KeyboardInterrupt
        calls.append(len(batch))
        return inner(batch, k)

    t.topk = dying
    with pytest.raises(KeyboardInterrupt):
        cached_topk(t, items, 4, cache, chunk_utts=4, part_utts=4, progress=False)
    assert len(cache.load()) == 4  # one part written before the kill
    done = []
    t.topk = lambda batch, k: done.append(len(batch)) or inner(batch, k)
    full = cached_topk(t, items, 4, cache, chunk_utts=4, part_utts=4, progress=False)
    assert sum(done) == len(items) - 4 and set(full) == set(items)
    ref = {u: inner([items[u]], 4)[0] for u in items}
    for u in items:
        assert torch.allclose(full[u][0], ref[u][0], atol=1e-5) and torch.equal(full[u][1], ref[u][1])


# ---- a KD step on CPU -----------------------------------------------------------------------------

def test_kd_step_on_cpu_learns_the_hf_targets(models):
    from kaldi_kd.am.model import HybridModel, ModelConfig
    from kaldi_kd.kd.objective import KDObjective
    from kaldi_kd.kd.segments import PartialEngine
    from types import SimpleNamespace

    spans = _utts(UTTS)
    eng = PartialEngine(build_hf_engine(f"hf:{models['bert']}", spans, HFOptions(), 2.0, 8, progress=False))
    torch.manual_seed(0)
    model = HybridModel(ModelConfig(type="tdnn", input_dim=6, num_pdfs=9, hidden_dim=16, num_layers=3, dropout=0.0))
    model.add_aux_head("subword", 2, eng.vocab_size, 0)
    obj = KDObjective({"subword": eng}, lambdas={"subword": 1.0}, taus={"subword": 2.0})
    utts = sorted(spans) + ["not_aligned"]
    T = max(eng.engine.segments[u].num_frames for u in spans)
    lengths = torch.tensor([eng.engine.segments[u].num_frames for u in spans] + [T])
    mask = torch.arange(T)[None] < lengths[:, None]
    g = torch.Generator().manual_seed(0)
    batch = SimpleNamespace(feats=torch.randn(len(utts), T, 6, generator=g) * mask[..., None], lengths=lengths,
                            targets=torch.randint(0, 9, (len(utts), T), generator=g).masked_fill(~mask, -100),
                            utt_ids=utts, starts=torch.zeros(len(utts), dtype=torch.long), mask=mask)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    kls = []
    for _ in range(15):
        opt.zero_grad()
        loss, stats = obj(model, batch)
        loss.backward()
        if not kls:
            assert model.aux_heads["subword"].net.weight.grad.abs().sum() > 0
        opt.step()
        kls.append(stats["kl_subword"])
    assert np.isfinite(kls).all() and kls[-1] < 0.8 * kls[0], kls


# ---- optional dependency ----------------------------------------------------------------------------

def test_without_transformers_config_works_and_loading_says_how_to_install(tmp_path):
    code = (
        "import sys; sys.modules['transformers'] = None\n"
        "import argparse\n"
        "from kaldi_kd.kd.config import add_kd_arguments, kd_config_from_args\n"
        "import kaldi_kd.kd.build, kaldi_kd.kd.train\n"
        "a = add_kd_arguments(argparse.ArgumentParser()).parse_args(['--aux-heads', 'subword@2', '--teacher', "
        "'subword=hf:/nowhere', '--hf-case', 'lower'])\n"
        "cfg = kd_config_from_args(a)\n"
        "assert cfg.unit_top_k('subword') == 8 and cfg.hf_options().case == 'lower'\n"
        "from kaldi_kd.lm.hf import load_hf_teacher, HFUnavailableError\n"
        f"open({str(tmp_path / 'config.json')!r}, 'w').write('{{}}')\n"
        "try:\n"
        f"    load_hf_teacher({str(tmp_path)!r})\n"
        "except HFUnavailableError as e:\n"
        "    print('MSG', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "pip install -e '.[hf]'" in out.stdout


def test_hf_teacher_only_for_subwords_and_options_checked():
    from kaldi_kd.kd.config import KDConfig, KDConfigError

    with pytest.raises(KDConfigError, match="only be the subword teacher"):
        KDConfig(aux_heads="senone@2", teachers={"senone": "hf:/m"}).validate()
    with pytest.raises(KDConfigError, match="--hf-case"):
        KDConfig(aux_heads="subword@2", teachers={"subword": "hf:/m"}, hf={"case": "title"}).validate()
    with pytest.raises(KDConfigError, match="unknown hf teacher options"):
        KDConfig(aux_heads="subword@2", teachers={"subword": "hf:/m"}, hf={"lowercase": 1}).validate()


def _ddp_worker(rank: int, world: int, root: str, model_dir: str) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{root}/rendezvous", rank=rank, world_size=world)
    try:
        counter = _Counting()
        eng = build_hf_engine(f"hf:{model_dir}", _utts(UTTS * 2), HFOptions(cache=f"{root}/cache"), 2.0, 4,
                              loader=counter, progress=False)
        v, i, _ = eng.segment_targets(["u5"], torch.device("cpu"))[0]
        torch.save({"scored": counter.scored, "head": torch.from_numpy(eng.head_tokens), "v": v, "i": i},
                   f"{root}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_ddp_ranks_share_the_cache_work(models, tmp_path):
    import torch.multiprocessing as mp

    mp.spawn(_ddp_worker, args=(2, str(tmp_path), str(models["gpt2"])), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2))
    assert r0["scored"] == r1["scored"] == len(UTTS)  # each rank owns half of the 8 utterances
    assert torch.equal(r0["head"], r1["head"]) and torch.equal(r0["v"], r1["v"]) and torch.equal(r0["i"], r1["i"])
    assert len(list((tmp_path / "cache").glob("*/part-0-*.pt"))) == len(list((tmp_path / "cache").glob("*/part-1-*.pt"))) == 1
