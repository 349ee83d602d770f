#!/usr/bin/env bash
# Tiny offline digits recipe: synthesised connected digits (flite/espeak-ng voices),
# Kaldi-style features, GMM alignments, a hybrid AM distilled from LM teachers.
# The whole story (stages 0-10, 12) is `make demo`: about 3 minutes on 2 CPU cores.
# The KD ablation (stage 11, 12 more trainings) runs only with --ablation true
# (`make ablation`, after the demo).
#
# Usage: ./run.sh [--stage N] [--stop-stage M] [--nj J] [--ablation true]
#  e.g.: ./run.sh --stage 1 --stop-stage 1
#        ./run.sh --stage 11 --stop-stage 11 --ablation true
set -euo pipefail

stage=0
stop_stage=100
nj=4          # parallel jobs per stage (at most nproc run at a time)
seed=1        # corpus seed
ablation=false  # stage 11 (the KD ablation) only when true
# hybrid decoding: beam 13 / lattice beam 8 (Kaldi's defaults) take 3-4x longer here and
# give the same WER on this test set
hybrid_beams="--beam 10 --lattice-beam 6"

. "$(dirname "$0")/steps_py/parse_options.sh"

cd "$(dirname "$0")"
. ./cmd.sh
. ./path.sh

if [ $stage -le 0 ] && [ $stop_stage -ge 0 ]; then
  log "Stage 0: synthesise the digits corpus into db/digits, data dirs data/{train,test}"
  local/make_digits_corpus.py --seed $seed --num-train 100 --num-test 30 db/digits data
fi

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  log "Stage 1: MFCC (GMM) in data/<set>, fbank (neural AM) in data/<set>_fbank, CMVN, validation"
  steps_py/make_mfcc_fbank.sh --nj $nj --cmd "$train_cmd" data/train data/test
fi

if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  log "Stage 2: LM text data/lm/text (text only), dict data/local/dict, lang data/lang, trigram G data/lang_test"
  local/make_digits_lm_text.py --num 5000 --seed 7 data/lm/text
  steps_py/prepare_dict.py --oov '<UNK>' data/lm/text data/local/dict
  steps_py/prepare_lang.py data/local/dict '<UNK>' data/lang
  steps_py/make_G.py --order 3 data/lm/text data/lang data/lang_test
fi

if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  log "Stage 3: monophone GMM-HMM exp/mono, alignments exp/mono_ali"
  steps_py/train_mono.py --nj $nj --cmd "$train_cmd" --num-iters 20 --max-iter-inc 15 \
    --realign-iters "1 2 3 4 5 6 8 10 12 14 16 18" --totgauss 500 data/train data/lang exp/mono
  steps_py/align_si.py --nj $nj --cmd "$train_cmd" data/train data/lang exp/mono exp/mono_ali
fi

if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  log "Stage 4: triphone GMM-HMM on deltas exp/tri1, alignments exp/tri1_ali (the AM's senone targets)"
  steps_py/train_deltas.py --nj $nj --cmd "$train_cmd" --num-iters 15 --max-iter-inc 10 --realign-iters "5 10" \
    300 2000 data/train data/lang exp/mono_ali exp/tri1
  steps_py/align_si.py --nj $nj --cmd "$train_cmd" data/train data/lang exp/tri1 exp/tri1_ali
fi

if [ $stage -le 5 ] && [ $stop_stage -ge 5 ]; then
  log "Stage 5: graphs exp/{mono,tri1}/graph, GMM decoding of data/test (lattices + sclite)"
  for gmm in mono tri1; do
    steps_py/mkgraph.py data/lang_test exp/$gmm exp/$gmm/graph
    steps_py/decode_gmm.py --nj $nj --cmd "$decode_cmd" exp/$gmm/graph data/test exp/$gmm/decode_test
  done
fi

if [ $stage -le 6 ] && [ $stop_stage -ge 6 ]; then
  log "Stage 6: hybrid TDNN, frame CE on fbank against the tri1 alignments: exp/tdnn_ce"
  # the AM's inputs must belong together (tree/model, alignments vs utterances and frames)
  steps_py/byo_check.py --gmm-feats false data/train_fbank exp/tri1_ali data/lang exp/tri1/graph
  steps_py/train_am.py --config conf/am_tdnn.yaml data/train_fbank exp/tri1_ali exp/tdnn_ce
fi

if [ $stage -le 7 ] && [ $stop_stage -ge 7 ]; then
  log "Stage 7: log p(pdf|x) - log prior of data/test, decoding through exp/tri1/graph, scoring"
  steps_py/nnet_forward.py --nj $nj --cmd "$decode_cmd" data/test_fbank exp/tdnn_ce exp/tdnn_ce/loglikes_test
  steps_py/decode.py --nj $nj --cmd "$decode_cmd" $hybrid_beams exp/tri1/graph data/test exp/tdnn_ce/loglikes_test \
    exp/tdnn_ce/decode_test
fi

if [ $stage -le 8 ] && [ $stop_stage -ge 8 ]; then
  log "Stage 8: sentencepiece, unit segments of the tri1 alignments, teacher corpora from the LM text"
  steps_py/train_spm.py --vocab-size 30 data/lm/text data/lm/spm
  steps_py/ali_to_units.py --spm data/lm/spm/spm.model data/train data/lang exp/tri1_ali exp/tri1_ali/units
  pids=()
  for unit in senone monophone subword; do
    steps_py/make_unit_corpus.py --level $unit --spm data/lm/spm/spm.model --sil-prob 0.1 \
      data/lm/text data/lang exp/tri1_ali data/lm/$unit &
    pids+=($!)
  done
  wait_all "${pids[@]}"
fi

if [ $stage -le 9 ] && [ $stop_stage -ge 9 ]; then
  log "Stage 9: teacher LMs exp/lm_{senone,monophone,subword} (in parallel); held-out and alignment perplexities"
  pids=()
  for unit in senone monophone subword; do
    steps_py/train_lm.py --config conf/lm_$unit.yaml --no-progress data/lm/$unit exp/lm_$unit &
    pids+=($!)
  done
  wait_all "${pids[@]}"
  pids=()
  for unit in senone monophone subword; do
    steps_py/lm_ppl.py exp/lm_$unit exp/tri1_ali/units/$unit &
    pids+=($!)
  done
  wait_all "${pids[@]}"
fi

if [ $stage -le 10 ] && [ $stop_stage -ge 10 ]; then
  log "Stage 10: hierarchical KD TDNN exp/tdnn_kd (monophone@2, senone@3, subword@4 heads), forward, decode"
  steps_py/train_am.py --config conf/am_tdnn.yaml \
    --aux-heads monophone@2,senone@3,subword@4 --kd-lambda 0.2 --kd-tau 1.0 \
    --teacher monophone=exp/lm_monophone --teacher senone=exp/lm_senone --teacher subword=exp/lm_subword \
    data/train_fbank exp/tri1_ali exp/tdnn_kd
  steps_py/nnet_forward.py --nj $nj --cmd "$decode_cmd" data/test_fbank exp/tdnn_kd exp/tdnn_kd/loglikes_test
  steps_py/decode.py --nj $nj --cmd "$decode_cmd" $hybrid_beams exp/tri1/graph data/test exp/tdnn_kd/loglikes_test \
    exp/tdnn_kd/decode_test
fi

if [ $stage -le 11 ] && [ $stop_stage -ge 11 ] && [ "$ablation" = true ]; then
  log "Stage 11: KD ablation (ce, interp, aux_{senone,monophone,subword}, hierarchical) x seeds"
  # writes exp/kd/ablation/{RESULTS.md,wer.png}; the numbers of a run are kept in ./RESULTS.md
  steps_py/run_ablation.py --config conf/kd_ablation.yaml exp/kd/ablation
fi

if [ $stage -le 11 ] && [ $stop_stage -ge 11 ] && [ "$ablation" != true ]; then
  log "Stage 11 (KD ablation, 12 trainings) skipped: run it with make ablation (--ablation true)"
fi

if [ $stage -le 12 ] && [ $stop_stage -ge 12 ]; then
  log "Stage 12: one table of every system (WER, 95% CI, paired difference against the first)"
  kaldi-kd compare exp/tri1/decode_test exp/mono/decode_test exp/tdnn_ce/decode_test exp/tdnn_kd/decode_test
  echo "Each row: exp/<system>/decode_test (lat.N.gz, wer_LMWT_WIP, scoring_kaldi/best_wer, wer_ci.json);"
  echo "models exp/<system>/final.pt, teachers exp/lm_<unit>/ (ppl), logs exp/*/log/. README.md explains the table."
fi

log "Done (stages $stage..$stop_stage)."
