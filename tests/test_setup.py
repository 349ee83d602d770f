"""Setup targets on a fresh machine, imitated offline: the Makefile's apt steps run
tools/apt_install.sh --dry-run against fake probes (a probe root and a PATH of fake
commands) and must ask for exactly the packages whose tool is missing, never one whose
tool is already there (Debian's npm conflicts with nodesource's Node.js, which brings npm).
Nothing is installed; no network."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Dict, List, Set

import pytest

ROOT = Path(__file__).resolve().parents[1]
DRY = f"APT_INSTALL={ROOT / 'tools' / 'apt_install.sh'} --dry-run"

pytestmark = pytest.mark.skipif(subprocess.run(["make", "--version"], capture_output=True).returncode != 0,
                                reason="needs GNU make")


def _make(*args: str, env: Dict[str, str] = None) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-s", "-C", str(ROOT), *args], capture_output=True, text=True,
                          env=dict(os.environ, **(env or {})), timeout=60)


def _needs(var: str) -> Dict[str, str]:
    """package -> probe of a Makefile variable (APT_NEEDS, SYNTH_APT_NEEDS)."""
    p = _make("--eval", "print-%: ; @echo $($*)", f"print-{var}")
    assert p.returncode == 0, p.stderr
    pairs = [item.split(":", 1) for item in p.stdout.split()]
    assert pairs and all(len(x) == 2 and x[0] and x[1] for x in pairs), p.stdout
    return dict(pairs)


def _would_install(tmp: Path, targets: List[str], present_files=(), present_commands=()) -> Set[str]:
    root, bin_dir = tmp / "root", tmp / "bin"
    for d in (root, bin_dir):
        d.mkdir(exist_ok=True)
    for f in present_files:
        (root / f.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (root / f.lstrip("/")).touch()
    for c in present_commands:
        (bin_dir / c).write_text("#!/bin/sh\n")
        (bin_dir / c).chmod(0o755)
    p = _make(DRY, *targets, env={"APT_PROBE_ROOT": str(root), "APT_PROBE_PATH": str(bin_dir)})
    assert p.returncode == 0, p.stderr
    out: Set[str] = set()
    for line in p.stdout.splitlines():
        assert line.startswith("apt_install: would install: "), line    # a dry run, never apt-get
        out |= set(line.split(": ", 2)[2].split())
    return out


def test_probes_are_paths_or_commands():
    for var in ("APT_NEEDS", "SYNTH_APT_NEEDS"):
        for pkg, probe in _needs(var).items():
            assert re.fullmatch(r"[a-z0-9][a-z0-9.+-]+", pkg), pkg
            assert probe.startswith("/") or re.fullmatch(r"[\w.+-]+", probe), (pkg, probe)
    assert not set(_needs("APT_NEEDS")) & set(_needs("SYNTH_APT_NEEDS"))


def test_fresh_machine_installs_everything(tmp_path):
    want = set(_needs("APT_NEEDS")) | set(_needs("SYNTH_APT_NEEDS"))
    assert _would_install(tmp_path, ["apt", "apt-synth"]) == want


def test_npm_from_nodejs_is_never_replaced(tmp_path):
    """The machine of issue 15: nodesource's Node.js brings npm; Debian's npm would conflict."""
    synth = _needs("SYNTH_APT_NEEDS")
    assert synth.get("npm") == "npm"
    got = _would_install(tmp_path, ["apt-synth"], present_commands=["npm", "node"])
    assert "npm" not in got and got == set(synth) - {"npm"}


def test_nothing_installed_when_every_tool_is_there(tmp_path):
    needs = {**_needs("APT_NEEDS"), **_needs("SYNTH_APT_NEEDS")}
    files = [p for p in needs.values() if p.startswith("/")]
    commands = [p for p in needs.values() if not p.startswith("/")]
    assert _would_install(tmp_path, ["apt", "apt-synth"], files, commands) == set()
    pkg, probe = next((k, v) for k, v in needs.items() if v.startswith("/"))   # one tool missing
    (tmp_path / "one").mkdir()
    got = _would_install(tmp_path / "one", ["apt", "apt-synth"], [f for f in files if f != probe], commands)
    assert got == {pkg}


def test_every_make_target_the_readme_names_exists():
    readme = (ROOT / "README.md").read_text()
    targets = set(re.findall(r"`make ([a-z][a-z-]*)", readme)) | {"setup", "setup-synth", "demo", "ablation"}
    for t in sorted(targets):
        p = _make("-n", DRY, t)
        assert p.returncode == 0, (t, p.stderr)
        assert "apt-get" not in p.stdout, t


def test_recipe_targets_run_the_right_stages():
    demo, ablation = _make("-n", DRY, "demo").stdout, _make("-n", DRY, "ablation").stdout
    assert "cd egs/digits/s5 && ./run.sh" in demo and "--stage 11" not in demo
    assert "--stage 11 --stop-stage 11 --ablation true" in ablation
