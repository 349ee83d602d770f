"""steps_py/parse_options.sh: the option parser every recipe's run.sh sources."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(tmp_path, *args):
    script = tmp_path / "run.sh"
    script.write_text(
        "#!/usr/bin/env bash\n# A test recipe.\n# Usage: ./run.sh [--stage N]\nset -euo pipefail\n"
        "stage=0\nlm_text_words=100\nlarge=false\nexp=\n"
        f'. "{ROOT}/steps_py/parse_options.sh"\n'
        'echo "$stage|$lm_text_words|$large|$exp"\n')
    return subprocess.run(["bash", str(script), *args], capture_output=True, text=True)


def test_values_flags_and_defaults(tmp_path):
    out = _run(tmp_path, "--stage", "3", "--lm-text-words", "5000", "--large", "--exp", "exp/x")
    assert out.returncode == 0 and out.stdout.strip() == "3|5000|true|exp/x"
    assert _run(tmp_path).stdout.strip() == "0|100|false|"
    assert _run(tmp_path, "--large", "false").stdout.strip() == "0|100|false|"


def test_unknown_option_and_missing_value_are_named(tmp_path):
    bad = _run(tmp_path, "--stag", "3")
    assert bad.returncode == 1 and "unknown option --stag" in bad.stderr
    missing = _run(tmp_path, "--stage")
    assert missing.returncode == 1 and "--stage needs a value" in missing.stderr
    stray = _run(tmp_path, "data/train")
    assert stray.returncode == 1 and "unexpected argument 'data/train'" in stray.stderr


def test_help_prints_the_header(tmp_path):
    out = _run(tmp_path, "--help")
    assert out.returncode == 0 and "Usage: ./run.sh [--stage N]" in out.stdout


def test_scripts_with_positional_arguments_keep_them(tmp_path):
    script = tmp_path / "stage.sh"
    script.write_text(
        "#!/usr/bin/env bash\nset -euo pipefail\nnj=4\nvalidate_opts=\ntakes_args=true\n"
        f'. "{ROOT}/steps_py/parse_options.sh"\n'
        'echo "$nj|$validate_opts|$*"\n')
    out = subprocess.run(["bash", str(script), "--nj", "2", "--validate-opts", "--no-wav-check",
                          "data/train", "data/test"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "2|--no-wav-check|data/train data/test"
