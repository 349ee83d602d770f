# Recipe environment, sourced by every egs/*/s5/path.sh with KKD_ROOT set to the
# repository root: its virtual environment, Kaldi binaries (optional), sclite, and the
# log() helper that run.sh stages use.
export KKD_ROOT
if [ -f "$KKD_ROOT/.venv/bin/activate" ] && [ -z "${VIRTUAL_ENV:-}" ]; then
  . "$KKD_ROOT/.venv/bin/activate"
fi
# With a Kaldi build, its binaries come first on PATH (the "kaldi" backend);
# without one everything runs on the embedded backend (pip wheels).
if [ -n "${KALDI_ROOT:-}" ]; then
  if [ -f "$KALDI_ROOT/tools/config/common_path.sh" ]; then
    . "$KALDI_ROOT/tools/config/common_path.sh"
  else
    for d in bin featbin gmmbin fstbin latbin lmbin nnet3bin; do
      export PATH="$KALDI_ROOT/src/$d:$PATH"
    done
  fi
  export PATH="$KALDI_ROOT/tools/openfst/bin:$PATH"
fi
export PATH="/usr/lib/sctk/bin:$PATH"
export PYTHONPATH="$KKD_ROOT${PYTHONPATH:+:$PYTHONPATH}"
export LC_ALL=C

# wait_all PID...: wait for each background job; a failed one fails the caller (set -e).
wait_all() {
  local pid
  for pid in "$@"; do wait "$pid"; done
}

# log "message": time-stamped, with the calling script and line (stage headers in run.sh).
log() {
  local fname=${BASH_SOURCE[1]##*/}
  echo -e "$(date '+%Y-%m-%d %H:%M:%S') ($fname:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*"
}
