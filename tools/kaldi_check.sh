#!/usr/bin/env bash
# kaldi_check.sh -- kaldi-kd against real Kaldi, end to end (`make kaldi-check`).
#
# Usage: KALDI_ROOT=<built kaldi> tools/kaldi_check.sh [--nj N] [<work-dir>]
#  e.g.: KALDI_ROOT=$HOME/kaldi tools/kaldi_check.sh /tmp/kaldi_check
#
# KALDI_ROOT: a Kaldi build with src/{bin,featbin,gmmbin,fstbin,latbin,lmbin} (e.g. from
# build_kaldi.sh) and its egs/wsj/s5/{utils,steps}.  Three checks, each must pass:
#   1. the Kaldi-binary tests (tests/test_byo.py, tests/test_kaldi_live.py: a fresh set
#      of golden files from this Kaldi through tests/test_kaldi_golden.py); none may skip.
#   2. the digits recipe (egs/digits/s5, stages 0-10 and 12) with KALDI_ROOT set, so every
#      decode is Kaldi's latgen-faster-mapped; then the CE TDNN's loglikes decoded again by
#      the embedded decoder: both WERs are printed (<work-dir>/digits_decoders.txt).
#   3. bring your own: Kaldi's steps/train_mono.sh -> align_si.sh -> train_deltas.sh ->
#      align_si.sh -> utils/mkgraph.sh on the digits data and lang, then
#      egs/librispeech/s5/run_byo.sh from Kaldi's tri1_ali to a WER.
set -euo pipefail

nj=2
if [ "${1:-}" = "--nj" ]; then nj=$2; shift 2; fi
: "${KALDI_ROOT:?set KALDI_ROOT to a built Kaldi (build_kaldi.sh)}"
repo=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$repo/exp_kaldi_check}
mkdir -p "$work" && work=$(cd "$work" && pwd)
py=$repo/.venv/bin/python
export KALDI_ROOT
log() { echo "[kaldi_check $(date +%H:%M:%S)] $*"; }
[ -x "$KALDI_ROOT/src/bin/latgen-faster-mapped" ] || { echo "kaldi_check.sh: $KALDI_ROOT is not a built Kaldi" >&2; exit 1; }

log "1. Kaldi-binary tests"
out=$(cd "$repo" && "$py" -m pytest -q -rs tests/test_byo.py::test_kaldi_binaries_read_our_files \
      tests/test_kaldi_live.py tests/test_kaldi_golden.py 2>&1) || { echo "$out" | tail -40; exit 1; }
echo "$out" | tail -3
if echo "$out" | grep -q "SKIPPED"; then echo "kaldi_check.sh: a Kaldi-binary test was skipped" >&2; exit 1; fi

log "2. digits recipe with Kaldi's decoder in $work/digits"
d=$work/digits
mkdir -p "$d"
for f in run.sh cmd.sh path.sh conf local steps_py; do ln -sfn "$repo/egs/digits/s5/$f" "$d/$f"; done
(cd "$d" && ./run.sh --nj "$nj") > "$work/digits.log" 2>&1 || { tail -30 "$work/digits.log"; exit 1; }
grep -q "latgen-faster-mapped" "$d/exp/tdnn_ce/decode_test/log/decode.1.log" \
  || { echo "kaldi_check.sh: the digits decode did not run Kaldi's latgen-faster-mapped" >&2; exit 1; }
(cd "$d" && . ./path.sh && KALDI_KD_BACKEND=embedded steps_py/decode.py --nj "$nj" --beam 10 --lattice-beam 6 exp/tri1/graph \
   data/test exp/tdnn_ce/loglikes_test exp/tdnn_ce/decode_test_embedded) >> "$work/digits.log" 2>&1
{
  echo "digits exp/tdnn_ce, same loglikes, beam 10, lattice beam 6:"
  echo "  latgen-faster-mapped: $(cat "$d/exp/tdnn_ce/decode_test/scoring_kaldi/best_wer")"
  echo "  kaldi-kd decoder:     $(cat "$d/exp/tdnn_ce/decode_test_embedded/scoring_kaldi/best_wer")"
} | tee "$work/digits_decoders.txt"

log "3. bring your own: Kaldi's GMM stages on the digits data, then run_byo.sh"
(
  cd "$d"
  ln -sfn "$KALDI_ROOT/egs/wsj/s5/utils" utils
  ln -sfn "$KALDI_ROOT/egs/wsj/s5/steps" steps
  export PATH=$PWD/utils:$PATH
  steps/train_mono.sh --nj "$nj" --cmd run.pl data/train data/lang exp/k_mono
  steps/align_si.sh --nj "$nj" --cmd run.pl data/train data/lang exp/k_mono exp/k_mono_ali
  steps/train_deltas.sh --cmd run.pl 300 2000 data/train data/lang exp/k_mono_ali exp/k_tri1
  steps/align_si.sh --nj "$nj" --cmd run.pl data/train data/lang exp/k_tri1 exp/k_tri1_ali
  utils/mkgraph.sh data/lang_test exp/k_tri1 exp/k_tri1/graph
) > "$work/kaldi_gmm.log" 2>&1 || { tail -30 "$work/kaldi_gmm.log"; exit 1; }
"$py" -c "import sys; from kaldi_kd.gmm.fstutils import read_fst_header as h; \
  sys.exit(h(open(sys.argv[1], 'rb').read(512)).fst_type != 'const')" "$d/exp/k_tri1/graph/HCLG.fst"
(cd "$repo/egs/librispeech/s5" && ./run_byo.sh --nj "$nj" --data "$d/data/train" --am-data "$d/data/train_fbank" \
   --ali "$d/exp/k_tri1_ali" --lang "$d/data/lang" --graph "$d/exp/k_tri1/graph" --lm-text "$d/data/lm/text" \
   --test-sets "$d/data/test_fbank" --exp "$d/exp/byo_kaldi" --conf "$d/conf" --am-config "$d/conf/am_tdnn.yaml" \
   --spm-vocab-size 30 --aux-heads monophone@2,senone@3,subword@4 --kd-lambda 0.2 --kd-tau 1.0) \
   > "$work/byo.log" 2>&1 || { tail -30 "$work/byo.log"; exit 1; }
grep -q "latgen-faster-mapped" "$d/exp/byo_kaldi/am_ce/decode_test_fbank/log/decode.1.log" \
  || { echo "kaldi_check.sh: run_byo.sh's decode (--cmd jobs) did not run Kaldi's latgen-faster-mapped" >&2; exit 1; }
for am in am_ce am_kd; do
  echo "byo from Kaldi's tri1_ali, $am: $(cat "$d/exp/byo_kaldi/$am/decode_test_fbank/scoring_kaldi/best_wer")"
done | tee "$work/byo_wer.txt"
log "all Kaldi checks passed (logs in $work)"
