"""The ablation table is built from real (Kaldi-format) decode dirs; the runner resumes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kaldi_kd.kd.ablation import AblationConfig, AblationError, kd_args, run_ablation, step_commands
from kaldi_kd.kd.results import read_decode_dir, summarise

REFS = {f"spk1-utt{i:02d}": "one two three four five".split()[: 2 + i % 4] for i in range(20)}


def _align_counts(ref, hyp):
    """(C, S, I, D) with a plain Levenshtein alignment."""
    import kaldialign

    ali = kaldialign.align(ref, hyp, "*")
    c = sum(1 for r, h in ali if r == h)
    s = sum(1 for r, h in ali if r != h and r != "*" and h != "*")
    i = sum(1 for r, h in ali if r == "*")
    d = sum(1 for r, h in ali if h == "*")
    return c, s, i, d


def write_decode_dir(path: Path, hyps: dict) -> None:
    """A scored decode dir as Kaldi's score_kaldi_wer.sh leaves it (best at LMWT 10, WIP 0.0)."""
    details = path / "scoring_kaldi" / "wer_details"
    details.mkdir(parents=True)
    lines, tot_err, tot_words, ins, dels, subs = [], 0, 0, 0, 0, 0
    for utt, ref in sorted(REFS.items()):
        c, s, i, d = _align_counts(ref, hyps[utt])
        lines += [f"{utt} ref {' '.join(ref)}", f"{utt} hyp {' '.join(hyps[utt])}", f"{utt} #csid {c} {s} {i} {d}"]
        tot_err += s + i + d
        tot_words += c + s + d
        ins, dels, subs = ins + i, dels + d, subs + s
    (details / "per_utt").write_text("\n".join(lines) + "\n")
    wer = 100.0 * tot_err / tot_words
    line = f"%WER {wer:.2f} [ {tot_err} / {tot_words}, {ins} ins, {dels} del, {subs} sub ] {path}/wer_10_0.0"
    (path / "scoring_kaldi" / "best_wer").write_text(line + "\n")
    (path / "wer_10_0.0").write_text(line + "\n%SER 0.00 [ 0 / 20 ]\n")


def _hyps(error_rate: float, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    out = {}
    for utt, ref in REFS.items():
        hyp = [w if rng.random() > error_rate else "nine" for w in ref]
        if rng.random() < error_rate / 2:
            hyp = hyp[:-1]
        out[utt] = hyp
    return out


def _make_systems(cfg: AblationConfig, rates: dict) -> None:
    for system, rate in rates.items():
        for seed in cfg.seeds:
            exp = Path(cfg.exp_root) / f"{system}_seed{seed}"
            write_decode_dir(exp / f"decode_{cfg.test_name}", _hyps(rate, seed * 7 + len(system)))


def test_read_decode_dir_and_consistency_check(tmp_path):
    d = tmp_path / "decode_test"
    write_decode_dir(d, _hyps(0.2, 0))
    res = read_decode_dir(d)
    assert len(res.errors) == 20 and sum(res.ref_words.values()) == sum(len(r) for r in REFS.values())
    assert res.wer == pytest.approx(100.0 * sum(res.errors.values()) / sum(res.ref_words.values()), abs=0.01)
    # a per_utt from another LMWT than best_wer is rejected
    per_utt = d / "scoring_kaldi" / "wer_details" / "per_utt"
    per_utt.write_text(per_utt.read_text().replace("#csid 2 0 0 0", "#csid 1 1 0 0", 1))
    with pytest.raises(ValueError, match="not from the best"):
        read_decode_dir(d)
    with pytest.raises((FileNotFoundError, ValueError), match="best_wer"):
        read_decode_dir(tmp_path / "nothing")


# ---- real decode dirs: toy HCLG, MappedDecoder lattices, sclite scoring (decode branch) ----

@pytest.fixture(scope="module")
def toy():
    from kaldi_kd.decode.toy import DIGITS_LEXICON, build_toy_system

    return build_toy_system(DIGITS_LEXICON, 12)


def scored_decode_dir(toy, root: Path, decode_dir: Path, noise: float, seed: int, num_utts: int = 12) -> None:
    """Decode synthetic log-likelihoods (more noise = a worse system) and score with sclite."""
    import gzip

    from kaldi_kd.decode.decoder import DecoderConfig, MappedDecoder
    from kaldi_kd.decode.lattice_io import write_compact_lattice_entry
    from kaldi_kd.decode.toy import synthetic_loglikes
    from kaldi_kd.score.score_dir import ScoringConfig, score_decode_dir

    data, graph = root / "data_test", root / "graph"
    words_rng = np.random.default_rng(123)  # the same test set for every system
    utts = {f"spk1-u{i:02d}": [int(w) for w in words_rng.integers(1, len(toy.words), size=3)] for i in range(num_utts)}
    if not data.exists():
        data.mkdir(parents=True)
        (data / "text").write_text("".join(f"{u} {' '.join(toy.words[w] for w in ws)}\n" for u, ws in utts.items()))
        (data / "utt2spk").write_text("".join(f"{u} spk1\n" for u in utts))
        graph.mkdir(parents=True)
        (graph / "words.txt").write_text("".join(f"{w} {i}\n" for i, w in enumerate(toy.words)))
    rng = np.random.default_rng(seed)
    decoder = MappedDecoder(toy.hclg, toy.trans_model, DecoderConfig(beam=10.0, lattice_beam=2.0))
    decode_dir.mkdir(parents=True)
    with gzip.open(decode_dir / "lat.1.gz", "wb") as f:
        for utt, ws in utts.items():
            ll, _ = synthetic_loglikes(toy, ws, rng, sep=2.0, noise=noise)
            write_compact_lattice_entry(f, utt, decoder.decode(ll, utt).lattice)
    score_decode_dir(data, graph, decode_dir, ScoringConfig(min_lmwt=9, max_lmwt=11, word_ins_penalties=(0.0,),
                                                            replications=100))


def test_ablation_table_from_two_systems_real_decode_dirs(toy, tmp_path):
    cfg = AblationConfig(systems=["ce", "aux_senone"], seeds=[1, 2], exp_root=str(tmp_path / "exp"), replications=500)
    for system, noise in (("ce", 3.0), ("aux_senone", 1.0)):
        for seed in cfg.seeds:
            scored_decode_dir(toy, tmp_path, Path(cfg.exp_root) / f"{system}_seed{seed}" / "decode_test", noise, seed)

    calls = []
    md = run_ablation(cfg, tmp_path / "out", runner=lambda argv, log: calls.append(argv) or 0)
    assert calls == []  # everything already scored: nothing rerun
    text = md.read_text()
    png = tmp_path / "out" / "wer.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 1000
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| ")}
    assert set(rows) >= {"ce", "aux_senone"}

    from kaldi_kd.score.score_dir import read_best

    results = {s: {seed: read_decode_dir(Path(cfg.exp_root) / f"{s}_seed{seed}" / "decode_test") for seed in (1, 2)}
               for s in ("ce", "aux_senone")}
    ce_wers = [read_best(Path(cfg.exp_root) / f"ce_seed{k}" / "decode_test")[0].wer for k in (1, 2)]
    assert [results["ce"][k].wer for k in (1, 2)] == pytest.approx(ce_wers)
    assert min(ce_wers) > 5  # the noisy system does make errors
    summ = {s.name: s for s in summarise(results, replications=500)}
    assert summ["ce"].mean == pytest.approx(np.mean(ce_wers))
    assert f"{np.mean(ce_wers):.2f} ± {np.std(ce_wers, ddof=1):.2f}" in rows["ce"]
    aux = summ["aux_senone"]
    assert aux.mean < summ["ce"].mean
    assert aux.diff < 0 and aux.diff_ci[1] < 0 and aux.p_better > 0.95  # clearly better than CE
    assert f"{aux.diff:+.2f}" in rows["aux_senone"]
    assert "ce_seed2/decode_test" in text


def test_runner_resumes_and_names_failing_step(tmp_path):
    cfg = AblationConfig(systems=["ce", "hierarchical"], seeds=[3], exp_root=str(tmp_path / "exp"), replications=100)
    done = []

    def fake_runner(argv, log_path):
        cmd = " ".join(argv)
        exp = Path(cfg.exp_root) / ("ce_seed3" if "ce_seed3" in cmd else "hierarchical_seed3")
        step = Path(argv[1]).name if len(argv) > 1 else ""
        done.append((exp.name, step))
        if step == "train_am.py":
            exp.mkdir(parents=True, exist_ok=True)
            (exp / "final.pt").write_bytes(b"x")
        elif step == "nnet_forward.py":
            (exp / "loglikes_test").mkdir(parents=True, exist_ok=True)
            (exp / "loglikes_test" / "num_jobs").write_text("2\n")
        elif step == "score.py":
            write_decode_dir(exp / "decode_test", _hyps(0.1 if "hier" in exp.name else 0.3, 1))
        return 0

    run_ablation(cfg, tmp_path / "out", runner=fake_runner)
    assert [s for _, s in done] == ["train_am.py", "nnet_forward.py", "decode.py", "score.py"] * 2
    hier_train = step_commands(cfg, "hierarchical", 3)["train"]
    assert "--aux-heads" in hier_train and "monophone@2,senone@4,subword@6" in hier_train
    assert hier_train.count("--teacher") == 3 and "seed=3" in hier_train
    done.clear()
    run_ablation(cfg, tmp_path / "out", runner=fake_runner)
    assert done == []  # resumed: nothing rerun

    cfg2 = AblationConfig(systems=["interp"], seeds=[1], exp_root=str(tmp_path / "exp2"))
    with pytest.raises(AblationError, match=r"interp seed 1: train failed \(exit 3\); see .*train.interp_seed1.log"):
        run_ablation(cfg2, tmp_path / "out2", runner=lambda argv, log: 3)
    assert kd_args("interp", cfg2)[:2] == ["--interp-alpha", "0.3"]
    assert kd_args("ce", cfg2) == []


def test_ablation_accepts_an_hf_subword_teacher(tmp_path):
    """hf:<dir> teachers and their --hf-* options reach train_am.py through the ablation YAML."""
    import yaml

    conf = tmp_path / "abl.yaml"
    conf.write_text(yaml.safe_dump({"systems": ["ce", "aux_subword", "hierarchical"], "seeds": [1],
                                    "teachers": {"senone": "exp/lm_senone", "monophone": "exp/lm_monophone",
                                                 "subword": "hf:/models/gpt2"},
                                    "hf": {"case": "sentence", "batch_tokens": 512}}))
    cfg = AblationConfig.load(conf)
    args = kd_args("aux_subword", cfg)
    assert args[args.index("--teacher") + 1] == "subword=hf:/models/gpt2"
    assert args[args.index("--hf-case") + 1] == "sentence" and args[args.index("--hf-batch-tokens") + 1] == "512"
    assert "--hf-case" in kd_args("hierarchical", cfg) and kd_args("ce", cfg) == []
    # the generated options parse as train_am.py's KD options
    import argparse

    from kaldi_kd.kd.config import add_kd_arguments, kd_config_from_args

    kd = kd_config_from_args(add_kd_arguments(argparse.ArgumentParser()).parse_args(args))
    assert kd.hf_options().case == "sentence" and kd.hf_options().batch_tokens == 512
    conf.write_text(yaml.safe_dump({"hf": {"lowercase": True}}))
    with pytest.raises(ValueError, match="unknown hf teacher options"):
        AblationConfig.load(conf)
