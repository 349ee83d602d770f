#!/usr/bin/env bash
# LibriSpeech, Kaldi's 100 h setup (train-clean-100; dev/test clean and other), with hybrid AMs
# distilled from LM teachers trained on the LibriSpeech LM corpus.
#
# Usage: ./run.sh [--stage N] [--stop-stage M] [--nj J] [--corpus DIR] [--download true]
#  e.g.: ./run.sh --corpus /data/LibriSpeech-root --stage 1 --stop-stage 5
#
# <corpus> holds LibriSpeech/<part>/..., librispeech-lexicon.txt, 3-gram.pruned.3e-7.arpa.gz
# (tgsmall) and librispeech-lm-norm.txt.gz; --download true fetches them (needs internet):
#   audio  https://www.openslr.org/resources/12/<part>.tar.gz
#   LM     https://www.openslr.org/resources/11/{librispeech-lexicon.txt,3-gram.pruned.3e-7.arpa.gz,
#          librispeech-lm-norm.txt.gz}
# GMM stages use Kaldi's steps/*.sh (mono, tri1 deltas, tri2b LDA+MLLT, tri3b/tri4b SAT) when
# KALDI_ROOT holds a built Kaldi, else the embedded steps_py ones (mono, tri1, tri2 deltas; or
# --embedded-gmm lda: tri2b, tri3b LDA+MLLT).
set -euo pipefail

stage=0
stop_stage=100
nj=20                       # parallel jobs per stage
decode_nj=10
corpus=db                   # where LibriSpeech/, the lexicon, ARPA and LM text are (or go)
download=false
train_set=train_clean_100
test_sets="dev_clean test_clean dev_other test_other"
lm_text_words=100000000     # teacher LM text: at most this many words of the 800M-word corpus
lm_text_stride=4            # ... from every 4th line
spm_vocab_size=1000
am_config=conf/am_tdnn.yaml # or conf/am_conformer.yaml, conf/am_blstm.yaml
aux_heads="monophone@4,senone@8,subword@12"
decode_gmm=true             # decode the final GMM too (the GMM baseline row of RESULTS.md)
forward_device=auto         # nnet_forward.py device: auto = cuda when torch sees a GPU
embedded_gmm=deltas         # embedded backend's last GMM: deltas (tri2) or lda (tri3b, LDA+MLLT;
                            # no GMM decoding: decode_gmm.py has no final.mat support yet)

. "$(dirname "$0")/steps_py/parse_options.sh"

cd "$(dirname "$0")"
. ./cmd.sh
. ./path.sh

backend=$(python3 -c "from kaldi_kd.kaldi.backend import detect_backend; print(detect_backend().name)")
if [ $backend = kaldi ]; then  # Kaldi's steps/ and utils/, as every Kaldi recipe links them
  [ -e steps ] || ln -s "$KALDI_ROOT/egs/wsj/s5/steps" steps
  [ -e utils ] || ln -s "$KALDI_ROOT/egs/wsj/s5/utils" utils
  gmm=tri4b
elif [ $embedded_gmm = lda ]; then
  gmm=tri3b
else
  gmm=tri2
fi
ali=exp/${gmm}_ali_${train_set}
graph=exp/$gmm/graph_tgsmall
parts="train-clean-100 dev-clean test-clean dev-other test-other"
units="senone monophone subword"

if [ $stage -le 0 ] && [ $stop_stage -ge 0 ]; then
  if [ "$download" = true ]; then
    log "Stage 0: download LibriSpeech (openslr 12) and the lexicon/LM (openslr 11) into $corpus"
    mkdir -p $corpus
    for part in $parts; do
      [ -d $corpus/LibriSpeech/$part ] && continue
      wget -c -P $corpus https://www.openslr.org/resources/12/$part.tar.gz
      tar -C $corpus -xzf $corpus/$part.tar.gz
    done
    for f in librispeech-lexicon.txt 3-gram.pruned.3e-7.arpa.gz librispeech-lm-norm.txt.gz; do
      [ -s $corpus/$f ] || wget -c -P $corpus https://www.openslr.org/resources/11/$f
    done
  else
    log "Stage 0: no download (--download true to fetch); expecting the corpus in $corpus"
  fi
  for f in LibriSpeech/SPEAKERS.TXT librispeech-lexicon.txt 3-gram.pruned.3e-7.arpa.gz librispeech-lm-norm.txt.gz; do
    [ -e $corpus/$f ] || { echo "run.sh: expected $corpus/$f to exist (see --download)" >&2; exit 1; }
  done
fi

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  log "Stage 1: data dirs data/{train_clean_100,dev_clean,test_clean,dev_other,test_other}"
  for part in $parts; do
    local/librispeech_data_prep.py $corpus/LibriSpeech/$part data/${part//-/_}
  done
fi

if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  log "Stage 2: dict (librispeech-lexicon.txt), data/lang, data/lang_test_tgsmall (G from the tgsmall ARPA)"
  steps_py/prepare_dict.py --lexicon $corpus/librispeech-lexicon.txt data/$train_set/text data/local/dict
  steps_py/prepare_lang.py data/local/dict "<UNK>" data/lang
  steps_py/make_G.py --arpa $corpus/3-gram.pruned.3e-7.arpa.gz data/lang data/lang_test_tgsmall
fi

if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  log "Stage 3: MFCC (GMM) in data/<set>, fbank (neural AM) in data/<set>_fbank, CMVN"
  steps_py/make_mfcc_fbank.sh --nj $nj --cmd "$train_cmd" --compress true --validate-opts --no-wav-check \
    $(for x in $train_set $test_sets; do echo data/$x; done)
  steps_py/subset_data_dir.py --shortest data/$train_set 2000 data/train_2kshort
  steps_py/subset_data_dir.py data/$train_set 5000 data/train_5k
  steps_py/subset_data_dir.py data/$train_set 10000 data/train_10k
fi

if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  log "Stage 4: GMM systems ($backend backend) up to exp/$gmm, alignments $ali, graph $graph"
  if [ $backend = kaldi ]; then  # Kaldi's own 100 h recipe (egs/librispeech/s5/run.sh)
    steps/train_mono.sh --boost-silence 1.25 --nj 20 --cmd "$train_cmd" data/train_2kshort data/lang exp/mono
    steps/align_si.sh --boost-silence 1.25 --nj 10 --cmd "$train_cmd" data/train_5k data/lang exp/mono exp/mono_ali_5k
    steps/train_deltas.sh --boost-silence 1.25 --cmd "$train_cmd" 2000 10000 data/train_5k data/lang \
      exp/mono_ali_5k exp/tri1
    steps/align_si.sh --nj 10 --cmd "$train_cmd" data/train_10k data/lang exp/tri1 exp/tri1_ali_10k
    steps/train_lda_mllt.sh --cmd "$train_cmd" --splice-opts "--left-context=3 --right-context=3" 2500 15000 \
      data/train_10k data/lang exp/tri1_ali_10k exp/tri2b
    steps/align_si.sh --nj 10 --cmd "$train_cmd" --use-graphs true data/train_10k data/lang exp/tri2b exp/tri2b_ali_10k
    steps/train_sat.sh --cmd "$train_cmd" 2500 15000 data/train_10k data/lang exp/tri2b_ali_10k exp/tri3b
    steps/align_fmllr.sh --nj $nj --cmd "$train_cmd" data/$train_set data/lang exp/tri3b exp/tri3b_ali_$train_set
    steps/train_sat.sh --cmd "$train_cmd" 4200 40000 data/$train_set data/lang exp/tri3b_ali_$train_set exp/tri4b
    steps/align_fmllr.sh --nj $nj --cmd "$train_cmd" data/$train_set data/lang exp/tri4b $ali
    utils/mkgraph.sh data/lang_test_tgsmall exp/tri4b $graph
  else  # embedded: speaker-independent triphones (no LDA+MLLT/SAT in the wheels)
    steps_py/train_mono.py --boost-silence 1.25 --nj $nj --cmd "$train_cmd" data/train_2kshort data/lang exp/mono
    steps_py/align_si.py --boost-silence 1.25 --nj $nj --cmd "$train_cmd" data/train_5k data/lang exp/mono exp/mono_ali_5k
    steps_py/train_deltas.py --boost-silence 1.25 --nj $nj --cmd "$train_cmd" 2000 10000 data/train_5k data/lang \
      exp/mono_ali_5k exp/tri1
    if [ $embedded_gmm = lda ]; then  # Kaldi's tri2b (LDA+MLLT, 10k), then LDA+MLLT on all of it
      steps_py/align_si.py --nj $nj --cmd "$train_cmd" data/train_10k data/lang exp/tri1 exp/tri1_ali_10k
      steps_py/train_lda_mllt.py --nj $nj --cmd "$train_cmd" 2500 15000 data/train_10k data/lang \
        exp/tri1_ali_10k exp/tri2b
      steps_py/align_si.py --nj $nj --cmd "$train_cmd" data/$train_set data/lang exp/tri2b exp/tri2b_ali_$train_set
      steps_py/train_lda_mllt.py --nj $nj --cmd "$train_cmd" 4200 40000 data/$train_set data/lang \
        exp/tri2b_ali_$train_set exp/tri3b
    else
      steps_py/align_si.py --nj $nj --cmd "$train_cmd" data/$train_set data/lang exp/tri1 exp/tri1_ali_$train_set
      steps_py/train_deltas.py --nj $nj --cmd "$train_cmd" 4200 40000 data/$train_set data/lang \
        exp/tri1_ali_$train_set exp/tri2
    fi
    steps_py/align_si.py --nj $nj --cmd "$train_cmd" data/$train_set data/lang exp/$gmm $ali
    steps_py/mkgraph.py data/lang_test_tgsmall exp/$gmm $graph
  fi
  steps_py/byo_check.py data/$train_set $ali data/lang $graph
fi

[ $backend = embedded ] && [ $embedded_gmm = lda ] && decode_gmm=false
if [ $stage -le 5 ] && [ $stop_stage -ge 5 ] && [ "$decode_gmm" = true ]; then
  log "Stage 5: decode exp/$gmm with the tgsmall graph (GMM baseline)"
  for x in $test_sets; do
    if [ $backend = kaldi ]; then
      steps/decode_fmllr.sh --nj $decode_nj --cmd "$decode_cmd" $graph data/$x exp/$gmm/decode_tgsmall_$x
    else
      steps_py/decode_gmm.py --nj $decode_nj --cmd "$decode_cmd" $graph data/$x exp/$gmm/decode_tgsmall_$x
    fi
  done
fi

if [ $stage -le 6 ] && [ $stop_stage -ge 6 ]; then
  log "Stage 6: teacher LM text (${lm_text_words} words, every ${lm_text_stride}th line), sentencepiece, units"
  local/librispeech_lm_text.py --lm-text-words $lm_text_words --stride $lm_text_stride \
    $corpus/librispeech-lm-norm.txt.gz data/local/lm/lm_text.txt.gz
  steps_py/train_spm.py --vocab-size $spm_vocab_size data/local/lm/lm_text.txt.gz data/lm/spm
  steps_py/ali_to_units.py --spm data/lm/spm/spm.model data/$train_set data/lang $ali $ali/units
  for u in $units; do
    spm_opt=; [ $u = subword ] && spm_opt="--spm data/lm/spm/spm.model"
    steps_py/make_unit_corpus.py --level $u $spm_opt --oov "<UNK>" data/local/lm/lm_text.txt.gz data/lang $ali data/lm/$u
  done
fi

if [ $stage -le 7 ] && [ $stop_stage -ge 7 ]; then
  log "Stage 7: teachers exp/lm_{senone,monophone,subword} (GPU; multi-GPU: docs/scale_out.md)"
  for u in $units; do
    steps_py/train_lm.py --config conf/lm_$u.yaml --no-progress data/lm/$u exp/lm_$u
  done
  cp data/lm/spm/spm.model exp/lm_subword/
fi

if [ $stage -le 8 ] && [ $stop_stage -ge 8 ]; then
  log "Stage 8: CE AM exp/am_ce and hierarchical KD AM exp/am_kd ($am_config; multi-GPU: docs/scale_out.md)"
  steps_py/train_am.py --config $am_config data/${train_set}_fbank $ali exp/am_ce
  steps_py/train_am.py --config $am_config --units-dir $ali/units --aux-heads $aux_heads \
    --kd-lambda 1.0 --kd-tau 2.0 --spm-model data/lm/spm/spm.model \
    --teacher monophone=exp/lm_monophone --teacher senone=exp/lm_senone --teacher subword=exp/lm_subword \
    data/${train_set}_fbank $ali exp/am_kd
fi

if [ $stage -le 9 ] && [ $stop_stage -ge 9 ]; then
  log "Stage 9: decode the AMs with $graph, score, compare"
  [ $forward_device = auto ] && \
    forward_device=$(python3 -c "import torch; print('cuda' if torch.cuda.is_available() else 'cpu')")
  for am in am_ce am_kd; do
    for x in $test_sets; do
      steps_py/nnet_forward.py --nj $decode_nj --cmd "$decode_cmd" --device $forward_device data/${x}_fbank exp/$am exp/$am/loglikes_$x
      steps_py/decode.py --nj $decode_nj --cmd "$decode_cmd" --trans-model $ali/final.mdl \
        $graph data/${x}_fbank exp/$am/loglikes_$x exp/$am/decode_tgsmall_$x
    done
  done
  for x in $test_sets; do
    python3 -m kaldi_kd.cli compare $([ "$decode_gmm" = true ] && echo exp/$gmm/decode_tgsmall_$x) \
      exp/am_ce/decode_tgsmall_$x exp/am_kd/decode_tgsmall_$x | tee exp/compare_tgsmall_$x.txt
  done
fi

if [ $stage -le 10 ] && [ $stop_stage -ge 10 ]; then
  log "Stage 10: KD ablation (CE, interpolation, each head, all heads; 3 seeds) on dev_clean -> exp/kd_ablation"
  mkdir -p exp/kd_ablation
  sed -e "s|@ALI@|$ali|g" -e "s|@GRAPH@|$graph|g" conf/kd_ablation.yaml > exp/kd_ablation/config.yaml
  steps_py/run_ablation.py --config exp/kd_ablation/config.yaml exp/kd_ablation
fi
log "Done (stages $stage..$stop_stage)."
