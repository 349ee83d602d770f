#!/usr/bin/env bash
# Medium offline recipe: ~3.6M words of public-domain LM text (Debian/npm packages) and
# a ~5 h read-speech corpus synthesised with 9 training voices x 5 speed/pitch
# perturbations, dev/test read by voices never heard in training.
#
# Usage: ./run.sh [--stage N] [--stop-stage M] [--nj J] [--large] [--hours H] [other options below]
#  e.g.: ./run.sh --hours 0.1 --dev-hours 0.02 --test-hours 0.02 --quick   # a few-minute trial
# Default configs (conf/*.yaml) are CPU-sized: the whole recipe (5 h train, 0.2 h dev, 0.5 h
# test) is timed stage by stage in RESULTS.md on a 2-core CPU; --large takes conf/*_large.yaml
# (bigger AM and teachers, for a GPU).  Every stage's wall time is appended to
# exp/stage_times.tsv (bench/stage_times.py turns it into JSON).
set -euo pipefail

stage=0
stop_stage=100
nj=4            # parallel jobs per stage (run.pl runs at most nproc at a time)
synth_nj=0      # parallel synthesis workers (0 = nproc)
seed=1          # corpus seed (prompts, voice assignment, noise)
hours=5.0       # training audio
dev_hours=0.2
test_hours=0.5
lm_dir=data/local/lm
vocab_size=20000      # lexicon / G vocabulary: top-N LM-text words (+ all transcript words)
g_text_words=300000   # LM text words for the trigram G (keeps HCLG buildable in minutes)
lm_text_words=1000000 # LM text words for the three teacher corpora
spm_vocab=500         # subword units
mono_gauss=1000
mono_utts=1500       # monophone training subset (Kaldi trains mono on a few thousand short utterances)
tri1_utts=2000       # triphone training subset (alignments of all of data/train come after)
tri1_leaves=1500
tri1_gauss=12000
large=false           # --large: conf/*_large.yaml
quick=false           # --quick: 4 AM epochs, 50 teacher steps, one seed, ce/interp/hierarchical, narrow beams
decode_opts=""        # decoding options of every decode (default below: beam 11, lattice beam 6)

. "$(dirname "$0")/steps_py/parse_options.sh"

cd "$(dirname "$0")"
. ./cmd.sh
. ./path.sh

# Stage timing: exp/stage_times.tsv gets "<stage> <name> <seconds> <hours> <conf>" per finished stage.
t0=0
begin() { t0=$(date +%s%N); }
finish() {
  mkdir -p exp
  printf '%s\t%s\t%d.%03d\t%s\t%s\n' "$1" "$2" $(( ($(date +%s%N) - t0) / 1000000000 )) \
    $(( ($(date +%s%N) - t0) / 1000000 % 1000 )) "$hours" "$sfx$([ $quick = true ] && echo quick)" >> exp/stage_times.tsv
}
run() { [ $stage -le $1 ] && [ $stop_stage -ge $1 ]; }

sfx=""; [ $large = true ] && sfx=_large
am_opts=""; lm_opts=""; abl_opts=""; abl_conf=conf/kd_ablation$sfx.yaml
if [ $quick = true ]; then
  # a barely trained AM gives flat posteriors, which make wide-beam decoding very slow
  am_opts="--opt num_epochs=4 --opt optim.warmup_steps=5"; lm_opts="--max-steps 50"
  abl_opts="--seeds 1 --systems ce,interp,hierarchical"
  [ -n "$decode_opts" ] || decode_opts="--beam 10 --max-active 1000 --lattice-beam 5"
fi
# Kaldi's nnet decodes use beam 15 with max-active 7000; the recipe decodes at beam 11 (max-active
# 7000, Kaldi's default): at beam 13 the hybrid AM's flatter posteriors on unseen voices cost 2-4x
# the decoding time for no WER gain (RESULTS.md).
if [ -z "$decode_opts" ]; then
  decode_opts="--beam 11 --lattice-beam 6"
fi
# The ablation config with this run's decoding options: exp/kd/kd_ablation.yaml.
prepare_ablation_conf() {
  mkdir -p exp/kd
  sed "s|^decode_args:.*|decode_args: \"$decode_opts\"|" conf/kd_ablation$sfx.yaml > exp/kd/kd_ablation.yaml
  abl_conf=exp/kd/kd_ablation.yaml
}
# The first N words of a gzipped one-sentence-per-line text (reads it all: no SIGPIPE under pipefail).
head_words() { gunzip -c "$1" | awk -v max="$2" '{ n += NF } n <= max'; }

if run 0; then
  log "Stage 0: LM text from bible-kjv, sword-text-web, fortunes, r-cran-stringr, npm sotu/moby-dick -> $lm_dir"
  begin
  local/prepare_lm_text.py $lm_dir
  finish 0 lm_text
fi

if run 1; then
  log "Stage 1: synthesise ${hours} h train, ${dev_hours} h dev, ${test_hours} h test into db/synth;"
  log "         data dirs data/{train,dev,test}, data/local/{vocab.txt,excluded_sentences.txt}"
  begin
  local/make_synth_corpus.py --seed $seed --hours $hours --dev-hours $dev_hours \
    --test-hours $test_hours --vocab-size $vocab_size --nj $synth_nj $lm_dir db/synth data
  finish 1 synthesis
fi

if run 2; then
  log "Stage 2: MFCC (GMM) in data/<set>, fbank (neural AM) in data/<set>_fbank, CMVN, validation"
  begin
  steps_py/make_mfcc_fbank.sh --nj $nj --cmd "$train_cmd" data/train data/dev data/test
  finish 2 features
fi

if run 3; then
  log "Stage 3: dict data/local/dict (vocab.txt + transcripts), lang data/lang,"
  log "         trigram G on the first $g_text_words LM-text words + train transcripts -> data/lang_test"
  begin
  steps_py/prepare_dict.py --oov '<UNK>' data/local/vocab.txt data/train/text data/dev/text data/test/text \
    data/local/dict
  steps_py/prepare_lang.py data/local/dict '<UNK>' data/lang
  head_words $lm_dir/lm_text.txt.gz $g_text_words > $lm_dir/g_text.txt
  steps_py/make_G.py --order 3 $lm_dir/g_text.txt data/train/text data/lang data/lang_test
  finish 3 lang
fi

if run 4; then
  log "Stage 4: monophone GMM-HMM exp/mono on $mono_utts utterances (data/train_mono), alignments exp/mono_ali"
  begin
  steps_py/subset_data_dir.py data/train $mono_utts data/train_mono
  steps_py/train_mono.py --nj $nj --cmd "$train_cmd" --totgauss $mono_gauss data/train_mono data/lang exp/mono
  steps_py/align_si.py --nj $nj --cmd "$train_cmd" data/train data/lang exp/mono exp/mono_ali
  finish 4 mono
fi

if run 5; then
  log "Stage 5: triphone GMM-HMM on deltas exp/tri1 ($tri1_leaves leaves, $tri1_utts utterances: data/train_tri1),"
  log "         alignments of data/train exp/tri1_ali (senone targets)"
  begin
  steps_py/subset_data_dir.py data/train $tri1_utts data/train_tri1
  steps_py/train_deltas.py --nj $nj --cmd "$train_cmd" $tri1_leaves $tri1_gauss data/train_tri1 data/lang \
    exp/mono_ali exp/tri1
  steps_py/align_si.py --nj $nj --cmd "$train_cmd" data/train data/lang exp/tri1 exp/tri1_ali
  finish 5 tri1
fi

if run 6; then
  log "Stage 6: graph exp/tri1/graph, GMM decoding of data/{dev,test} (lattices + sclite)"
  begin
  steps_py/mkgraph.py data/lang_test exp/tri1 exp/tri1/graph
  for x in dev test; do
    steps_py/decode_gmm.py --nj $nj --cmd "$decode_cmd" $decode_opts exp/tri1/graph data/$x exp/tri1/decode_$x
  done
  finish 6 graph_gmm_decode
fi

# The CE system is the ablation's "ce" system (exp/kd/ce_seed1): trained, its test set
# decoded and scored once here; stage 11 reuses it (every ablation step skips finished work).
if run 7; then
  log "Stage 7: hybrid TDNN, frame CE on fbank against the tri1 alignments: exp/kd/ce_seed1"
  log "         (conf/am_tdnn$sfx.yaml), test decoded through exp/tri1/graph and scored"
  begin
  prepare_ablation_conf
  steps_py/run_ablation.py --config $abl_conf --systems ce --seeds 1 \
    ${am_opts:+--train-args "--config conf/am_tdnn$sfx.yaml $am_opts"} exp/kd/ablation
  finish 7 am_ce
fi

if run 8; then
  log "Stage 8: CE system on dev: log p(pdf|x) - log prior, decoding through exp/tri1/graph, scoring"
  begin
  steps_py/nnet_forward.py --nj $nj --cmd "$decode_cmd" data/dev_fbank exp/kd/ce_seed1 exp/kd/ce_seed1/loglikes_dev
  steps_py/decode.py --nj $nj --cmd "$decode_cmd" $decode_opts exp/tri1/graph data/dev exp/kd/ce_seed1/loglikes_dev \
    exp/kd/ce_seed1/decode_dev
  finish 8 am_ce_dev
fi

if run 9; then
  log "Stage 9: teacher text (first $lm_text_words LM-text words, text only), sentencepiece ($spm_vocab),"
  log "         unit segments of the tri1 alignments, teacher corpora data/lm/{senone,monophone,subword}"
  begin
  mkdir -p data/lm
  head_words $lm_dir/lm_text.txt.gz $lm_text_words > data/lm/text
  steps_py/train_spm.py --vocab-size $spm_vocab data/lm/text data/lm/spm
  steps_py/ali_to_units.py --spm data/lm/spm/spm.model data/train data/lang exp/tri1_ali exp/tri1_ali/units
  for unit in senone monophone subword; do
    steps_py/make_unit_corpus.py --level $unit --spm data/lm/spm/spm.model --oov '<UNK>' \
      --sil-prob 0.05 --edge-sil-prob 1.0 \
      data/lm/text data/lang exp/tri1_ali data/lm/$unit
  done
  finish 9 unit_corpora
fi

if run 10; then
  log "Stage 10: teacher LMs exp/lm_{senone,monophone,subword}; held-out and alignment perplexities"
  begin
  for unit in senone monophone subword; do
    steps_py/train_lm.py --config conf/lm_$unit$sfx.yaml $lm_opts --no-progress data/lm/$unit exp/lm_$unit
    steps_py/lm_ppl.py exp/lm_$unit exp/tri1_ali/units/$unit
  done
  finish 10 teachers
fi

if run 11; then
  log "Stage 11: KD ablation ($abl_conf): CE (stage 7), label interpolation, aux heads -> exp/kd/ablation/RESULTS.md"
  begin
  prepare_ablation_conf
  steps_py/run_ablation.py --config $abl_conf $abl_opts \
    ${am_opts:+--train-args "--config conf/am_tdnn$sfx.yaml $am_opts"} exp/kd/ablation
  finish 11 kd_ablation
fi

log "Done (stages $stage..$stop_stage)."
