#!/usr/bin/env bash
# The features stage every recipe shares: MFCC (for the GMMs) in <data-dir>, and 80-dim
# fbank (for the neural AM) in a copy <data-dir>_fbank, each with per-speaker CMVN stats
# and a validation of the data dir.  Run from a recipe dir: reads conf/mfcc.conf and
# conf/fbank.conf, writes archives to mfcc/ and fbank/, logs to exp/make_{mfcc,fbank}/<set>.
#
# Usage: steps_py/make_mfcc_fbank.sh [--nj N] [--cmd CMD] [--compress false] [--validate-opts OPTS] <data-dir>...
#  e.g.: steps_py/make_mfcc_fbank.sh --nj 4 --cmd "$train_cmd" data/train data/test
set -euo pipefail

nj=4
cmd=steps_py/run.pl
compress=false      # store compressed matrices (Kaldi's make_mfcc.sh default is compressed)
validate_opts=""    # e.g. "--no-wav-check" when wav.scp holds pipes of tools not installed here
takes_args=true

. "$(dirname "$0")/parse_options.sh"
if [ $# -lt 1 ]; then
  sed -n '7,8s/^# //p' "$0" >&2; exit 1
fi
compress_opt=""
[ "$compress" = true ] && compress_opt=--compress

for data in "$@"; do
  x=$(basename "$data")
  steps_py/make_feats.py --feat-type mfcc --config conf/mfcc.conf $compress_opt --nj $nj --cmd "$cmd" \
    "$data" exp/make_mfcc/$x mfcc
  steps_py/compute_cmvn_stats.py "$data" exp/make_mfcc/$x mfcc
  steps_py/validate_data_dir.py $validate_opts "$data"

  steps_py/copy_data_dir.py "$data" "${data}_fbank"
  steps_py/make_feats.py --feat-type fbank --config conf/fbank.conf $compress_opt --nj $nj --cmd "$cmd" \
    "${data}_fbank" exp/make_fbank/$x fbank
  steps_py/compute_cmvn_stats.py "${data}_fbank" exp/make_fbank/$x fbank
  steps_py/validate_data_dir.py $validate_opts "${data}_fbank"
done
