#!/usr/bin/env bash
# The KD learning curve of the synth recipe: the ablation at several amounts of transcribed
# audio (conf/learning_curve.yaml: 0.25, 0.5 and 1 h), systems tuned on dev at one size, 3 seeds,
# teachers that hide the predicted unit's whole word (span masking) and train to convergence.
#
# Needs run.sh stages 0-3 (LM text, corpus, features, lang); everything else is made here.
# Every stage skips finished work, so after a kill the same command continues.
#
# Usage: ./run_learning_curve.sh [--stage N] [--stop-stage M] [--nj J] [--config conf/learning_curve.yaml]
#  e.g.: ./run_learning_curve.sh --nj 2
#
# Stages:
#  0  teacher text data/lm/text, sentencepiece data/lm/spm (as run.sh stage 9, when missing)
#  1  subsets data/train_<tag>{,_fbank} of at least <tag> hours
#  2  per size: mono + tri1 GMMs, alignments (exp/lc/<tag>/{mono,mono_ali,tri1,tri1_ali})
#  3  per size: HCLG exp/lc/<tag>/tri1/graph
#  4  per size: unit segments exp/lc/<tag>/tri1_ali/units; teacher corpora (senone per size)
#  5  teachers: span-masked to convergence (exp/lc/<tag>/lm_senone_span, exp/lc/lm_{monophone,subword}_span)
#     and, for the diagnostics, the same teachers without span masking (exp/lc/<tune tag>/lm_senone,
#     exp/lc/lm_{monophone,subword})
#  6  teacher diagnostics (lm_ppl.py) on the tuning size's alignments and the held-out text
#  7  tuning on dev, the curve on test, the summary (steps_py/run_learning_curve.py)
set -euo pipefail

stage=0
stop_stage=100
nj=2
config=conf/learning_curve.yaml
lm_text_words=1000000
spm_vocab=500
mono_utts=1500
lm_dir=data/local/lm

. "$(dirname "$0")/steps_py/parse_options.sh"

cd "$(dirname "$0")"
. ./cmd.sh
. ./path.sh

lc=exp/lc
mkdir -p $lc
run() { [ $stage -le $1 ] && [ $stop_stage -ge $1 ]; }
t0=0
begin() { t0=$(date +%s); }
finish() { printf '%s\t%s\t%d\n' "$1" "$2" $(( $(date +%s) - t0 )) >> $lc/stage_times.tsv; }
# a config value, e.g. conf sizes -> "0.5 1 2"
conf() { python3 -c "import sys, yaml; v = yaml.safe_load(open('$config'))['$1']; \
print(' '.join(f'{x:g}' for x in v) if isinstance(v, list) else f'{v:g}')"; }
sizes=$(conf sizes)
tune_tag=$(conf tune_size)h
# GMM size per amount of audio: "<tri1 leaves> <tri1 gaussians> <mono gaussians>"
gmm_size() {
  case $1 in
    0.25h) echo "400 2500 400" ;;
    0.5h) echo "600 4000 600" ;;
    1h) echo "900 7000 800" ;;
    2h) echo "1300 10000 1000" ;;
    *) echo "1500 12000 1000" ;;
  esac
}
head_words() { gunzip -c "$1" | awk -v max="$2" '{ n += NF } n <= max'; }

for f in data/train/feats.scp data/train_fbank/feats.scp data/dev_fbank/feats.scp data/test_fbank/feats.scp \
         data/lang/phones.txt data/lang_test/G.fst $lm_dir/lm_text.txt.gz; do
  [ -f $f ] || { echo "$0: expected file $f to exist (run ./run.sh --stop-stage 3 first)" >&2; exit 1; }
done

if run 0; then
  log "Stage 0: teacher text data/lm/text (first $lm_text_words words), sentencepiece data/lm/spm"
  begin
  mkdir -p data/lm
  [ -s data/lm/text ] || head_words $lm_dir/lm_text.txt.gz $lm_text_words > data/lm/text
  [ -f data/lm/spm/spm.model ] || steps_py/train_spm.py --vocab-size $spm_vocab data/lm/text data/lm/spm
  finish 0 lm_text
fi

if run 1; then
  log "Stage 1: training subsets of $sizes hours: data/train_<tag> (MFCC), data/train_<tag>_fbank"
  begin
  for h in $sizes; do
    tag=${h}h
    [ -f data/train_$tag/feats.scp ] || steps_py/subset_data_dir.py --hours $h data/train data/train_$tag
    [ -f data/train_${tag}_fbank/feats.scp ] || \
      steps_py/subset_data_dir.py --utt-list data/train_$tag/utt2spk data/train_fbank data/train_${tag}_fbank
  done
  finish 1 subsets
fi

if run 2; then
  log "Stage 2: per size, monophone and triphone GMMs and alignments: exp/lc/<tag>/{mono,tri1}{,_ali}"
  begin
  for h in $sizes; do
    tag=${h}h; d=$lc/$tag
    read -r leaves gauss mono_gauss <<< "$(gmm_size $tag)"
    if [ ! -f $d/mono/final.mdl ]; then
      steps_py/subset_data_dir.py data/train_$tag $mono_utts data/train_${tag}_mono
      steps_py/train_mono.py --nj $nj --cmd "$train_cmd" --totgauss $mono_gauss data/train_${tag}_mono data/lang $d/mono
    fi
    [ -f $d/mono_ali/ali.1.gz ] || \
      steps_py/align_si.py --nj $nj --cmd "$train_cmd" data/train_$tag data/lang $d/mono $d/mono_ali
    [ -f $d/tri1/final.mdl ] || \
      steps_py/train_deltas.py --nj $nj --cmd "$train_cmd" $leaves $gauss data/train_$tag data/lang $d/mono_ali $d/tri1
    [ -f $d/tri1_ali/ali.1.gz ] || \
      steps_py/align_si.py --nj $nj --cmd "$train_cmd" data/train_$tag data/lang $d/tri1 $d/tri1_ali
  done
  finish 2 gmm
fi

if run 3; then
  log "Stage 3: per size, HCLG exp/lc/<tag>/tri1/graph"
  begin
  for h in $sizes; do
    d=$lc/${h}h
    [ -f $d/tri1/graph/HCLG.fst ] || steps_py/mkgraph.py data/lang_test $d/tri1 $d/tri1/graph
  done
  finish 3 graphs
fi

unit_corpus() {  # <level> <model-dir> <out-dir>
  [ -f $3/valid.bounds.gz ] || steps_py/make_unit_corpus.py --level $1 --spm data/lm/spm/spm.model --oov '<UNK>' \
    --sil-prob 0.05 --edge-sil-prob 1.0 data/lm/text data/lang $2 $3
}

if run 4; then
  log "Stage 4: unit segments of each size's alignments; teacher corpora data/lm/{senone_<tag>,monophone,subword}"
  begin
  for h in $sizes; do
    tag=${h}h; d=$lc/$tag
    [ -f $d/tri1_ali/units/subword/bounds.gz ] || \
      steps_py/ali_to_units.py --spm data/lm/spm/spm.model data/train_$tag data/lang $d/tri1_ali $d/tri1_ali/units
    unit_corpus senone $d/tri1 data/lm/senone_$tag
  done
  unit_corpus monophone $lc/$tune_tag/tri1 data/lm/monophone
  unit_corpus subword $lc/$tune_tag/tri1 data/lm/subword
  finish 4 units
fi

teacher() {  # <corpus> <exp> [train_lm.py options]: train (or resume) unless teacher.pt exists
  local corpus=$1 exp=$2; shift 2
  [ -f $exp/teacher.pt ] || steps_py/train_lm.py "$@" --resume --no-progress $corpus $exp > $exp.log 2>&1 \
    || { echo "$0: teacher $exp failed, see $exp.log" >&2; return 1; }
}

if run 5; then
  log "Stage 5: span-masked teachers (conf/lm_<unit>_span.yaml) and, for the diagnostics, the same"
  log "         teachers without span masking (--span none), two at a time (one thread each)"
  begin
  jobs_list=()
  for h in $sizes; do
    jobs_list+=("data/lm/senone_${h}h $lc/${h}h/lm_senone_span --config conf/lm_senone_span.yaml")
  done
  for unit in monophone subword; do
    jobs_list+=("data/lm/$unit $lc/lm_${unit}_span --config conf/lm_${unit}_span.yaml")
    jobs_list+=("data/lm/$unit $lc/lm_$unit --config conf/lm_${unit}_span.yaml --span none")
  done
  jobs_list+=("data/lm/senone_$tune_tag $lc/$tune_tag/lm_senone --config conf/lm_senone_span.yaml --span none")
  running=0
  for j in "${jobs_list[@]}"; do
    if [ $running -ge 2 ]; then wait -n; running=$((running - 1)); fi
    teacher $j &
    running=$((running + 1))
  done
  wait
  for j in "${jobs_list[@]}"; do  # a failed job left no teacher.pt
    set -- $j; [ -f $2/teacher.pt ] || { echo "$0: teacher $2 failed, see $2.log" >&2; exit 1; }
  done
  finish 5 teachers
fi

if run 6; then
  log "Stage 6: what each teacher knows (ppl, entropy, p(true), top-1) on $tune_tag alignments and held-out text"
  begin
  units=$lc/$tune_tag/tri1_ali/units
  for t in $lc/$tune_tag/lm_senone $lc/$tune_tag/lm_senone_span; do
    steps_py/lm_ppl.py $t $units/senone
    steps_py/lm_ppl.py --max-seqs 2000 $t data/lm/senone_$tune_tag/valid.txt.gz
  done
  for unit in monophone subword; do
    for t in $lc/lm_$unit $lc/lm_${unit}_span; do
      steps_py/lm_ppl.py $t $units/$unit
      steps_py/lm_ppl.py --max-seqs 2000 $t data/lm/$unit/valid.txt.gz
    done
  done
  finish 6 diagnostics
fi

if run 7; then
  log "Stage 7: tuning on dev at $tune_tag, the curve on test ($sizes h, every seed), summary -> $lc/RESULTS.md"
  begin
  # two systems at a time (conf jobs: 2), one torch thread each: on a busy 2-core machine
  # two single-threaded jobs run several times faster than one two-threaded job
  OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} steps_py/run_learning_curve.py --config $config --step all
  finish 7 tune_curve_summary
fi

log "Done (stages $stage..$stop_stage)."
