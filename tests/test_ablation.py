"""The ablation table is built from real (Kaldi-format) decode dirs; the runner resumes."""

from __future__ import annotations

import re
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
    with pytest.raises(FileNotFoundError, match="best_wer"):
        read_decode_dir(tmp_path / "nothing")


def test_ablation_table_from_two_systems_decode_dirs(tmp_path):
    cfg = AblationConfig(systems=["ce", "aux_senone"], seeds=[1, 2], exp_root=str(tmp_path / "exp"), replications=500)
    _make_systems(cfg, {"ce": 0.35, "aux_senone": 0.05})

    calls = []
    md = run_ablation(cfg, tmp_path / "out", runner=lambda argv, log: calls.append(argv) or 0)
    assert calls == []  # everything already scored: nothing rerun
    text = md.read_text()
    assert (tmp_path / "out" / "wer.png").stat().st_size > 1000
    assert (tmp_path / "out" / "wer.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| ")}
    assert set(rows) >= {"ce", "aux_senone"}

    results = {s: {seed: read_decode_dir(Path(cfg.exp_root) / f"{s}_seed{seed}" / "decode_test") for seed in (1, 2)}
               for s in ("ce", "aux_senone")}
    summ = {s.name: s for s in summarise(results, replications=500)}
    ce_wers = [results["ce"][k].wer for k in (1, 2)]
    assert summ["ce"].mean == pytest.approx(np.mean(ce_wers))
    assert f"{np.mean(ce_wers):.2f} ± {np.std(ce_wers, ddof=1):.2f}" in rows["ce"]
    aux = summ["aux_senone"]
    assert aux.diff < 0 and aux.diff_ci[1] < 0 and aux.p_better > 0.95  # clearly better than CE
    assert aux.ci[0] <= aux.mean <= aux.ci[1] or abs(aux.mean - np.mean(aux.ci)) < 5
    assert f"{aux.diff:+.2f}" in rows["aux_senone"]
    assert "decode_test" in text


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
            (exp / "loglikes_test" / "loglikes.scp").write_text("")
        elif step == "score.py":
            write_decode_dir(exp / "decode_test", _hyps(0.1 if "hier" in exp.name else 0.3, 1))
        return 0

    run_ablation(cfg, tmp_path / "out", runner=fake_runner)
    assert [s for _, s in done] == ["train_am.py", "nnet_forward.py", "decode.py", "score.py"] * 2
    hier_train = step_commands(cfg, "hierarchical", 3)["train"]
    assert "--aux-heads" in hier_train and "monophone@2,senone@4,subword@6" in hier_train
    assert hier_train.count("--teacher") == 3 and "--seed" in hier_train and "3" in hier_train
    done.clear()
    run_ablation(cfg, tmp_path / "out", runner=fake_runner)
    assert done == []  # resumed: nothing rerun

    cfg2 = AblationConfig(systems=["interp"], seeds=[1], exp_root=str(tmp_path / "exp2"))
    with pytest.raises(AblationError, match=r"interp seed 1: train failed \(exit 3\); see .*train.interp_seed1.log"):
        run_ablation(cfg2, tmp_path / "out2", runner=lambda argv, log: 3)
    assert kd_args("interp", cfg2)[:2] == ["--interp-alpha", "0.3"]
    assert kd_args("ce", cfg2) == []
