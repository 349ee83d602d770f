"""The synth recipe (egs/synth/s5): configs parse into their dataclasses, run.sh names existing
scripts and configs; bench/kd_overhead.py's measuring function on a tiny size."""

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from kaldi_kd.kd.ablation import AblationConfig
from kaldi_kd.lm.train import LMConfig
from kaldi_kd.train.config import load_config

ROOT = Path(__file__).resolve().parents[1]
S5 = ROOT / "egs" / "synth" / "s5"
UNITS = ("senone", "monophone", "subword")


@pytest.mark.parametrize("sfx", ["", "_large"])
def test_configs_parse(sfx):
    am = load_config(S5 / "conf" / f"am_tdnn{sfx}.yaml")
    assert am.model.type == "tdnn" and am.num_epochs >= 1
    for unit in UNITS:
        lm = LMConfig.from_yaml(S5 / "conf" / f"lm_{unit}{sfx}.yaml")
        assert lm.kind in ("causal", "masked", "bidir") and lm.max_steps > 0
    abl = AblationConfig.load(S5 / "conf" / f"kd_ablation{sfx}.yaml")
    assert "ce" in abl.systems and "hierarchical" in abl.systems
    assert set(abl.teachers) == set(UNITS)
    # the ablation trains with this recipe's AM config of the same size, heads inside the encoder
    cfg_path = re.search(r"--config (\S+)", abl.train_args).group(1)
    assert cfg_path == f"conf/am_tdnn{sfx}.yaml"
    assert all(1 <= layer <= am.model.num_layers for layer in abl.layers.values())


def test_run_sh_names_existing_files():
    text = (S5 / "run.sh").read_text()
    assert subprocess.run(["bash", "-n", str(S5 / "run.sh")]).returncode == 0
    scripts = set(re.findall(r"((?:steps_py|local)/[\w.]+\.(?:py|pl))", text))
    assert len(scripts) >= 15
    for s in scripts:
        assert (S5 / s).is_file(), f"run.sh names {s}, which does not exist"
    confs = set(re.findall(r"conf/([\w.]+?)(?:\$sfx)?\.(yaml|conf)", text))
    for name, ext in confs:
        for sfx in ("", "_large") if ext == "yaml" else ("",):
            assert (S5 / "conf" / f"{name}{sfx}.{ext}").is_file(), f"conf/{name}{sfx}.{ext} missing"
    # every stage is timed, stages numbered 0..N without gaps
    stages = [int(n) for n in re.findall(r"^if run (\d+); then", text, flags=re.M)]
    assert stages == list(range(len(stages))) and len(stages) >= 12
    assert len(re.findall(r"^  finish \d+ ", text, flags=re.M)) == len(stages)


def test_kd_overhead_measure_tiny():
    import importlib.util
    spec = importlib.util.spec_from_file_location("kd_overhead", ROOT / "bench" / "kd_overhead.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["kd_overhead"] = mod
    spec.loader.exec_module(mod)
    torch.set_num_threads(1)
    cfg = mod.OverheadConfig(hidden=32, num_layers=5, num_pdfs=60, vocab={"monophone": 8, "subword": 20},
                             batch=2, frames=60, warmup=1, repeats=2, memory=False)
    entry = mod.measure(cfg)
    for key in ("ce_step_s", "kd_step_s", "kd_cache_step_s", "time_ratio", "time_ratio_cache",
                "soft_target_frames_per_s"):
        assert math.isfinite(entry[key]) and entry[key] > 0, key
    assert set(entry["soft_target_s"]) == set(UNITS)
    assert entry["output_frames_per_batch"] == 2 * 20   # 60 input frames, subsampling 3
    assert len(entry["step_times_s"]["kd"]) == 2
    assert entry["time_ratio"] == pytest.approx(entry["kd_step_s"] / entry["ce_step_s"])
