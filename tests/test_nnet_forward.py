"""nnet_forward: priors, Kaldi loglike arks with one finite row per frame, aux heads dropped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from am_toy import make_toy_corpus, toy_transition_model  # noqa: E402

from kaldi_kd.am.data import DataConfig, FeatureSource, count_pdfs, transition_id_to_pdf
from kaldi_kd.am.model import HybridModel, ModelConfig
from kaldi_kd.am.priors import log_priors, read_prior_counts, write_prior_counts
from kaldi_kd.data.tables import read_table_dict
from kaldi_kd.train.checkpoint import save_checkpoint
from kaldi_kd.train.config import TrainConfig, save_config
from kaldi_kd.train.loop import model_checkpoint

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]


def _am_dir(tmp_path: Path, kind: str, s: int):
    tid2pdf = transition_id_to_pdf(toy_transition_model())
    data, _, pdfs = make_toy_corpus(tmp_path, tid2pdf, num_utts=8, num_spk=4)
    cfg = TrainConfig()
    cfg.model = ModelConfig(type=kind, input_dim=8, num_pdfs=9, hidden_dim=16, num_layers=2,
                            subsampling=s, num_heads=2)
    torch.manual_seed(0)
    model = HybridModel(cfg.model)
    model.add_aux_head("monophone", 1, 5)                   # a KD model: heads must be dropped
    am = tmp_path / "exp"
    save_config(cfg, am / "config.yaml")
    counts = count_pdfs(pdfs, 9)
    counts[4] = 0                                            # an unseen pdf gets the floor
    write_prior_counts(am / "prior_counts", counts)
    save_checkpoint(am / "best.pt", model_checkpoint(model, 0, None))
    return data, am, model, pdfs


def test_prior_counts_round_trip_and_floor(tmp_path):
    counts = np.array([3.0, 0.0, 1.0])
    write_prior_counts(tmp_path / "prior_counts", counts)
    assert (tmp_path / "prior_counts").read_text().split()[0] == "["
    np.testing.assert_array_equal(read_prior_counts(tmp_path / "prior_counts"), counts)
    lp = log_priors(counts, floor=1e-3)
    assert torch.isfinite(lp).all() and float(lp.exp().sum()) == pytest.approx(1.0)
    assert float(lp[1]) == pytest.approx(np.log(1e-3 / (1 + 1e-3)), rel=1e-4)
    (tmp_path / "bad").write_text("1 2 3\n")
    with pytest.raises(ValueError, match="bad"):
        read_prior_counts(tmp_path / "bad")


def _run_forward(args):
    import importlib.util
    spec = importlib.util.spec_from_file_location("nnet_forward", ROOT / "steps_py" / "nnet_forward.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.main(args)


@pytest.mark.parametrize("kind,s", [("tdnn", 1), ("conformer", 3)])
def test_forward_writes_one_row_per_frame(tmp_path, kind, s):
    data, am, model, pdfs = _am_dir(tmp_path, kind, s)
    out = tmp_path / "loglikes"
    assert _run_forward(["--nj", "2", str(data), str(am), str(out)]) == 0
    assert (out / "num_jobs").read_text().strip() == "2"
    got = {}
    for n in (1, 2):
        assert (out / "log" / f"forward.{n}.log").exists()
        part = read_table_dict(f"scp:{out / f'loglikes.{n}.scp'}")
        assert part and not set(part) & set(got)
        got.update(part)
    assert set(got) == set(pdfs)
    feats = FeatureSource(data, DataConfig())
    lp = log_priors(read_prior_counts(am / "prior_counts"), 1e-8)
    ref_model = model.export()
    for utt, ll in got.items():
        assert ll.shape == (len(pdfs[utt]), 9) and np.isfinite(ll).all()
        x = torch.from_numpy(feats[utt])[None]
        with torch.no_grad():
            logits = ref_model(x, torch.tensor([x.shape[1]])).logits[0]
        ref = (torch.log_softmax(logits, -1) - lp).numpy()
        np.testing.assert_allclose(ll[::s], ref, atol=1e-4)          # output frame j at input j*s
        if s > 1:
            np.testing.assert_array_equal(ll[1], ll[0])             # repeated within a group


def test_forward_through_run_pl(tmp_path, monkeypatch):
    data, am, _, pdfs = _am_dir(tmp_path, "tdnn", 1)
    out = tmp_path / "ll"
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    proc = subprocess.run([sys.executable, str(ROOT / "steps_py" / "nnet_forward.py"), "--nj", "2",
                           "--cmd", str(ROOT / "steps_py" / "run.pl"), str(data), str(am), str(out)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    rows = sum(len(read_table_dict(f"scp:{out / f'loglikes.{n}.scp'}")) for n in (1, 2))
    assert rows == len(pdfs)


def test_missing_model_is_named(tmp_path):
    data, am, _, _ = _am_dir(tmp_path, "tdnn", 1)
    (am / "best.pt").unlink()
    from kaldi_kd.errors import MissingFileError

    with pytest.raises(MissingFileError, match="best.pt"):       # run_main reports it as one line
        _run_forward([str(data), str(am), str(tmp_path / "o")])
    assert not (tmp_path / "o").exists()


def _run_script(name, args):
    import importlib.util
    spec = importlib.util.spec_from_file_location(name, ROOT / "steps_py" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.main(args)


def test_posterior_priors_are_summed_posteriors_and_used_by_forward(tmp_path):
    """compute_priors.py writes the model's summed posteriors; forward divides by them."""
    from kaldi_kd.am.priors import POSTERIOR_PRIORS, prior_file

    data, am, model, pdfs = _am_dir(tmp_path, "tdnn", 1)
    assert prior_file(am) == am / "prior_counts"                    # auto: no posterior priors yet
    with pytest.raises(FileNotFoundError, match=POSTERIOR_PRIORS):
        prior_file(am, "posterior")
    assert _run_script("compute_priors", ["--num-utts", "5", str(data), str(am)]) == 0
    post = read_prior_counts(am / POSTERIOR_PRIORS)
    feats = FeatureSource(data, DataConfig())
    assert post.shape == (9,) and (post > 0).all()
    from kaldi_kd.data.datadir import DataDir
    from kaldi_kd.data.subset import pick_utts

    used = pick_utts(DataDir.load(data), 5)                          # 5 of 8, spread
    assert post.sum() == pytest.approx(sum(len(pdfs[u]) for u in used), rel=1e-6)  # one unit per frame
    assert prior_file(am) == am / POSTERIOR_PRIORS                  # auto now prefers them
    # the unseen pdf 4 (alignment count 0 -> floor) gets its real posterior mass as prior
    assert post[4] > 0 and read_prior_counts(am / "prior_counts")[4] == 0
    out = tmp_path / "ll"
    assert _run_forward(["--nj", "1", str(data), str(am), str(out)]) == 0
    got = read_table_dict(f"scp:{out / 'loglikes.1.scp'}")
    utt = sorted(got)[0]
    x = torch.from_numpy(feats[utt])[None]
    with torch.no_grad():
        logits = model.export()(x, torch.tensor([x.shape[1]])).logits[0]
    ref = (torch.log_softmax(logits, -1) - log_priors(post)).numpy()
    np.testing.assert_allclose(got[utt], ref, atol=1e-4)
    # --priors alignment still divides by the alignment counts
    out2 = tmp_path / "ll2"
    assert _run_forward(["--nj", "1", "--priors", "alignment", str(data), str(am), str(out2)]) == 0
    ali = read_table_dict(f"scp:{out2 / 'loglikes.1.scp'}")[utt]
    np.testing.assert_allclose(ali, (torch.log_softmax(logits, -1) - log_priors(read_prior_counts(am / "prior_counts"))).numpy(), atol=1e-4)


def test_compute_priors_names_missing_model(tmp_path, capsys):
    data, am, _, _ = _am_dir(tmp_path, "tdnn", 1)
    (am / "best.pt").unlink()
    from kaldi_kd.errors import run_main

    assert run_main(lambda: _run_script("compute_priors", [str(data), str(am)]), "compute_priors.py") == 1
    assert f"compute_priors.py: {am / 'best.pt'}: expected file to exist" in capsys.readouterr().err
