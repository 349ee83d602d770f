"""The learning-curve driver: tuning picks by dev WER only, round 2 inherits the senone head's
options, the curve reuses the tuned seed and runs every size and seed on test, the summary
compares against ce and interp; a killed run resumes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from kaldi_kd.kd.learning_curve import (LearningCurveConfig, LearningCurveError, load_choice, run_curve, size_tag,
                                        teacher_markdown, teacher_pairs, tune, write_summary)
from test_ablation import _hyps, write_decode_dir


def _cfg(tmp_path: Path) -> LearningCurveConfig:
    return LearningCurveConfig(
        sizes=[0.5, 1.0], seeds=[1, 2], tune_size=1.0, epochs={0.5: 6, 1.0: 4},
        grid={"interp": [{"interp_alpha": 0.2}, {"interp_alpha": 0.5}],
              "aux_senone": [{"kd_lambda": 0.5, "kd_tau": 1.0}, {"kd_lambda": 2.0, "kd_tau": 3.0}]},
        ablation={"train_data": "data/train_{tag}_fbank", "ali_dir": "exp/lc/{tag}/tri1_ali",
                  "graph": "exp/lc/{tag}/tri1/graph",
                  "teachers": {"senone": "exp/lc/{tag}/lm_senone_span", "monophone": "exp/lc/lm_monophone_span",
                               "subword": "exp/lc/lm_subword_span"},
                  "train_args": "--config conf/am_tdnn.yaml"},
        exp_root=str(tmp_path / "lc"), replications=200, jobs=2).validate()


class FakeRunner:
    """Plays train / forward / decode / score; the error rate depends on the KD options and the set:
    on dev the options that the test asserts as chosen are best; on test every system has its own rate."""

    DEV_RATE = {"--interp-alpha 0.5": 0.15, "--kd-lambda 2.0 --kd-tau 3.0": 0.12, "aux-heads subword@6": 0.05}
    TEST_RATE = {"ce": 0.30, "interp": 0.25, "aux_subword": 0.10, "hierarchical": 0.2}

    def __init__(self):
        self.trained = {}
        self.calls = []

    def __call__(self, argv, log_path):
        script = Path(argv[1]).name
        target = Path(argv[-1])
        self.calls.append((script, str(target)))
        if script == "train_am.py":
            target.mkdir(parents=True, exist_ok=True)
            (target / "final.pt").write_bytes(b"x")
            self.trained[str(target.resolve())] = " ".join(argv)
        elif script == "nnet_forward.py":
            target.mkdir(parents=True, exist_ok=True)
            (target / "num_jobs").write_text("1\n")
        elif script == "score.py":
            exp = target.parent.resolve()
            args = self.trained[str(exp)]
            if target.name == "decode_dev":
                rate = min([r for k, r in self.DEV_RATE.items() if k in args] or [0.3])
            else:
                rate = self.TEST_RATE[exp.name.rsplit("_seed", 1)[0]]
            write_decode_dir(target, _hyps(rate, len(str(exp))))
        return 0


def test_tuning_curve_and_summary(tmp_path, monkeypatch):
    cfg = _cfg(tmp_path)
    run = FakeRunner()
    monkeypatch.setattr("kaldi_kd.kd.learning_curve.run_logged", run)
    chosen = tune(cfg, runner=run)
    # round 1: ce, two interp, two aux_senone variants; round 2: three systems with aux_senone's choice
    trains = [a for s, a in run.calls if s == "train_am.py"]
    assert len(trains) == 1 + 2 + 2 + 3
    assert all("decode_dev" in t for s, t in run.calls if s == "score.py")
    assert chosen["systems"] == ["ce", "interp", "aux_subword", "hierarchical"]
    assert chosen["system_options"]["interp"] == {"interp_alpha": 0.5}
    assert chosen["system_options"]["aux_subword"] == {"kd_lambda": 2.0, "kd_tau": 3.0}
    hier_train = next(v for k, v in run.trained.items() if "/tune/hierarchical/" in k)
    assert "--kd-lambda 2.0 --kd-tau 3.0" in hier_train and "--opt num_epochs=4" in hier_train
    assert "exp/lc/1h/lm_senone_span" in hier_train and "data/train_1h_fbank" in hier_train
    table = (Path(cfg.exp_root) / "tune" / "TUNING.md").read_text()
    assert table.count("| yes |") == 6 and "Best single aux head on dev: **aux_subword**" in table

    run.calls.clear()
    run_curve(cfg, runner=run)
    trains = [t for s, t in run.calls if s == "train_am.py"]
    # 2 sizes x 4 systems x 2 seeds, minus the 4 tuned seed-1 runs reused at the tuning size
    assert len(trains) == 2 * 4 * 2 - 4
    assert all("decode_test" in t for s, t in run.calls if s == "score.py")
    assert len([1 for s, _ in run.calls if s == "score.py"]) == 16
    linked = Path(cfg.exp_root) / "1h" / "kd" / "interp_seed1"
    assert linked.is_symlink() and (linked / "decode_test" / "scoring_kaldi" / "best_wer").is_file()
    small = run.trained[str((Path(cfg.exp_root) / "0.5h" / "kd" / "aux_subword_seed2").resolve())]
    assert "--opt num_epochs=6" in small and "exp/lc/0.5h/lm_senone_span" not in small  # subword head only

    md = write_summary(cfg)
    text = md.read_text()
    rows = [r for r in text.splitlines() if r.startswith("| 0.5 ") or r.startswith("| 1 ")]
    assert len(rows) == 8
    data = json.loads((Path(cfg.exp_root) / "curve.json").read_text())["points"]
    sub = next(p for p in data if p["hours"] == 0.5 and p["system"] == "aux_subword")
    assert sub["diff_vs_ce"] < 0 and sub["diff_vs_ce_ci"][1] < 0 and sub["diff_vs_interp"] < 0
    png = Path(cfg.exp_root) / "curve.png"
    assert png.read_bytes()[:4] == b"\x89PNG"

    run.calls.clear()  # resumed: nothing is redone
    tune(cfg, runner=run)
    run_curve(cfg, runner=run)
    assert run.calls == []


def test_partial_summary_and_errors(tmp_path):
    cfg = _cfg(tmp_path)
    with pytest.raises(LearningCurveError, match="chosen.yaml"):
        load_choice(cfg)
    bad = tmp_path / "lc.yaml"
    bad.write_text(yaml.safe_dump({"sizes": [0.5], "tune_size": 1.0}))
    with pytest.raises(LearningCurveError, match="tune_size 1.0 is not one of"):
        LearningCurveConfig.load(bad)
    bad.write_text("sizes: [1]\nepoch: {1: 3}\n")
    with pytest.raises(LearningCurveError, match="lc.yaml: unknown keys \\['epoch'\\]"):
        LearningCurveConfig.load(bad)
    assert size_tag(0.5) == "0.5h" and size_tag(2.0) == "2h"


def _stats(exp: Path, span: str, ali: dict, held: dict, curve: str) -> None:
    exp.mkdir(parents=True)
    table = {"exp/lc/1h/tri1_ali/units/x": dict(ali, span=span), "data/lm/x/valid.txt.gz": dict(held, span=span)}
    (exp / "teacher_stats.json").write_text(json.dumps(table))
    (exp / "ppl_curve.tsv").write_text("step\ttrain_loss\tvalid_ppl\tentropy\tp_true\ttop1\n" + curve)


def test_teacher_diagnostics_table(tmp_path, monkeypatch):
    """Each teacher of the tuning size appears twice (no span, span), with its alignment and held-out
    figures in their own columns and the step it was best at."""
    monkeypatch.chdir(tmp_path)
    cfg = _cfg(tmp_path)
    pairs = teacher_pairs(cfg)
    assert pairs[0] == ("senone", Path("exp/lc/1h/lm_senone"), Path("exp/lc/1h/lm_senone_span"))
    _stats(pairs[0][1], "none", {"ppl": 1.13, "entropy": 0.2, "p_true": 0.93, "top1": 0.95},
           {"ppl": 1.2, "entropy": 0.25, "p_true": 0.9, "top1": 0.92}, "200\t1.0\t1.3\t0\t0\t0\n400\t0.9\t1.2\t0\t0\t0\n")
    _stats(pairs[0][2], "word", {"ppl": 11.7, "entropy": 2.1, "p_true": 0.3, "top1": 0.43},
           {"ppl": 12.5, "entropy": 2.2, "p_true": 0.28, "top1": 0.41},
           "200\t3.0\t14.0\t0\t0\t0\n400\t2.8\t12.5\t0\t0\t0\n600\t2.7\t12.6\t0\t0\t0\n")
    rows = [r for r in teacher_markdown(cfg).splitlines() if r.startswith("| senone ")]
    assert rows == ["| senone | none | 400 / 400 (1.20) | 1.13 | 0.20 | 0.930 | 0.950 | 1.20 | 0.25 | 0.900 | 0.920 |",
                    "| senone | word | 600 / 400 (12.50) | 11.70 | 2.10 | 0.300 | 0.430 | 12.50 | 2.20 | 0.280 | 0.410 |"]
