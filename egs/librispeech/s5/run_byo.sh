#!/usr/bin/env bash
# Bring your own Kaldi experiment: start at the AM stage from an existing Kaldi run.
#
# Usage: ./run_byo.sh [options] --data <data-dir> --ali <ali-dir> --lang <lang-dir> --graph <graph-dir> \
#          --lm-text <text> --test-sets "<data-dir> ..."
#  e.g.: ./run_byo.sh --data data/train_clean_100 --am-data data/train_clean_100_fbank \
#          --ali exp/tri4b_ali_clean_100 --lang data/lang --graph exp/tri4b/graph_tgsmall \
#          --lm-text data/local/lm/lm_text.txt.gz --test-sets "data/dev_clean_fbank data/test_clean_fbank"
#
# Needs (Kaldi's own file formats, e.g. from Kaldi's egs/librispeech/s5):
#   <data-dir>   feats.scp, cmvn.scp, text, utt2spk (the features the alignments were made on)
#   <ali-dir>    final.mdl, tree, ali.*.gz, num_jobs
#   <lang-dir>   phones.txt, words.txt, phones/align_lexicon.int ...
#   <graph-dir>  HCLG.fst, words.txt, phones.txt
#   --am-data    the AM's features, same utterances and frames (default: <data-dir>)
#   --test-sets  test data dirs with the AM's kind of features and a text file
# Stages: 0 consistency check (stops with a list of mismatches) | 1 units + unit corpora |
#   2 teachers | 3 CE and KD AMs | 4 decode + score | 5 comparison table.
set -euo pipefail

stage=0
stop_stage=100
nj=4
data=; am_data=; ali=; lang=; graph=; lm_text=; test_sets=
exp=exp/byo                       # everything this script writes goes under here
conf=conf                         # am_*.yaml, lm_<unit>.yaml
am_config=                        # default: $conf/am_tdnn.yaml
spm_vocab_size=500
aux_heads="monophone@4,senone@8,subword@12"
kd_lambda=1.0
kd_tau=2.0
feat_dim=                         # feature dim the AM config expects (checked at stage 0)
prior_floor=1e-8                  # nnet_forward.py: floor of the normalised senone priors

. "$(dirname "$0")/steps_py/parse_options.sh"
for v in data ali lang graph lm_text test_sets; do
  [ -n "${!v}" ] || { echo "run_byo.sh: --${v//_/-} is required" >&2; sed -n '4,8s/^# //p' "$0" >&2; exit 1; }
done
am_data=${am_data:-$data}
am_config=${am_config:-$conf/am_tdnn.yaml}

[ -f ./path.sh ] && [ -e ./steps_py ] || { echo "run_byo.sh: run it from its recipe dir (egs/librispeech/s5)" >&2; exit 1; }
. ./cmd.sh
. ./path.sh

units="senone monophone subword"
mkdir -p $exp

if [ $stage -le 0 ] && [ $stop_stage -ge 0 ]; then
  log "Stage 0: consistency check of $data, $ali, $lang, $graph"
  steps_py/byo_check.py --log-dir $exp/log ${feat_dim:+--feat-dim $feat_dim} $data $ali $lang $graph
  if [ "$am_data" != "$data" ]; then  # the AM's features: same utterances and frames
    steps_py/byo_check.py --log-dir $exp/log/am_data --gmm-feats false ${feat_dim:+--feat-dim $feat_dim} \
      $am_data $ali $lang $graph
  fi
fi

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  log "Stage 1: sentencepiece, alignment units ($exp/units), unit corpora from $lm_text"
  steps_py/train_spm.py --vocab-size $spm_vocab_size $lm_text $exp/spm
  steps_py/ali_to_units.py --spm $exp/spm/spm.model $data $lang $ali $exp/units
  for u in $units; do
    spm_opt=; [ $u = subword ] && spm_opt="--spm $exp/spm/spm.model"
    steps_py/make_unit_corpus.py --level $u $spm_opt --oov "$(cat $lang/oov.txt)" $lm_text $lang $ali $exp/lm_data/$u
  done
fi

if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  log "Stage 2: teachers $exp/lm_{senone,monophone,subword} (GPU when there is one)"
  for u in $units; do
    steps_py/train_lm.py --config $conf/lm_$u.yaml --no-progress $exp/lm_data/$u $exp/lm_$u
  done
  cp $exp/spm/spm.model $exp/lm_subword/
fi

if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  log "Stage 3: CE AM $exp/am_ce and hierarchical KD AM $exp/am_kd ($aux_heads)"
  steps_py/train_am.py --config $am_config $am_data $ali $exp/am_ce
  steps_py/train_am.py --config $am_config --units-dir $exp/units --aux-heads $aux_heads \
    --kd-lambda $kd_lambda --kd-tau $kd_tau --spm-model $exp/spm/spm.model \
    --teacher monophone=$exp/lm_monophone --teacher senone=$exp/lm_senone --teacher subword=$exp/lm_subword \
    $am_data $ali $exp/am_kd
fi

if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  log "Stage 4: decode $test_sets with $graph, score"
  for am in am_ce am_kd; do
    for t in $test_sets; do
      name=$(basename $t)
      steps_py/nnet_forward.py --nj $nj --cmd "$decode_cmd" --prior-floor $prior_floor $t $exp/$am $exp/$am/loglikes_$name
      steps_py/decode.py --nj $nj --cmd "$decode_cmd" --trans-model $ali/final.mdl \
        $graph $t $exp/$am/loglikes_$name $exp/$am/decode_$name
    done
  done
fi

if [ $stage -le 5 ] && [ $stop_stage -ge 5 ]; then
  log "Stage 5: CE vs KD"
  for t in $test_sets; do
    name=$(basename $t)
    python -m kaldi_kd.cli compare $exp/am_ce/decode_$name $exp/am_kd/decode_$name | tee $exp/compare_$name.txt
  done
fi
log "Done (stages $stage..$stop_stage)."
