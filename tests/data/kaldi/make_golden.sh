#!/usr/bin/env bash
# make_golden.sh -- regenerate the Kaldi golden files that tests/test_kaldi_golden.py reads.
#
# Usage: KALDI_ROOT=<built kaldi> tests/data/kaldi/make_golden.sh [<work-dir>]
#  e.g.: KALDI_ROOT=$HOME/kaldi tests/data/kaldi/make_golden.sh /tmp/golden_work
#
# 1. kaldi-kd writes a tiny experiment (make_ours.py: 18 utterances of synthetic 13-dim
#    features, a lang dir, a monophone GMM, alignments, a const HCLG, our lattices).
# 2. Kaldi reads our files: lattice-copy (text and binary), lattice-best-path, gmm-info,
#    gmm-copy, tree-info, copy-tree, ali-to-pdf, copy-int-vector, copy-feats, copy-matrix.
# 3. Kaldi writes its own: steps/train_mono.sh on our data and lang (final.mdl, tree,
#    ali.1.gz), utils/mkgraph.sh (const HCLG.fst), gmm-compute-likes + latgen-faster-mapped
#    (lattices as CompactLattice and Lattice, binary and text, ark and scp),
#    lattice-best-path, compute-wer, compute-mfcc-feats / compute-fbank-feats /
#    compute-cmvn-stats on a wav.
# Everything kept goes to tests/data/kaldi/golden/{ours,kaldi}/ (a few hundred KB), with
# kaldi/VERSION naming the Kaldi commit and OpenFst version; GOLDEN_OUT=<dir> writes them
# there instead (tests/test_kaldi_live.py checks a fresh set that way).  Needs the repo's
# .venv (make setup).
set -euo pipefail

: "${KALDI_ROOT:?set KALDI_ROOT to a built Kaldi (e.g. from build_kaldi.sh)}"
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
work=${1:-$(mktemp -d)}
mkdir -p "$work" && work=$(cd "$work" && pwd)
py=${PYTHON:-$repo/.venv/bin/python}
golden=${GOLDEN_OUT:-$here/golden}
for d in bin featbin gmmbin fstbin latbin lmbin; do PATH=$KALDI_ROOT/src/$d:$PATH; done
export PATH=$KALDI_ROOT/egs/wsj/s5/utils:$KALDI_ROOT/tools/openfst/bin:$PATH LC_ALL=C
for b in lattice-copy gmm-latgen-faster latgen-faster-mapped compute-mfcc-feats; do
  command -v $b >/dev/null || { echo "make_golden.sh: $b not found under $KALDI_ROOT/src" >&2; exit 1; }
done
log() { echo "[make_golden $(date +%H:%M:%S)] $*"; }

log "1. our experiment in $work"
rm -rf "$work/run"
PYTHONPATH=$repo:$repo/tests "$py" "$here/make_ours.py" "$work" > "$work/make_ours.log" 2>&1 \
  || { tail -20 "$work/make_ours.log"; exit 1; }
run=$work/run
cd "$run"
ln -sfn "$KALDI_ROOT/egs/wsj/s5/utils" utils
ln -sfn "$KALDI_ROOT/egs/wsj/s5/steps" steps
printf 'export LC_ALL=C\n' > path.sh
rm -rf "$golden" && mkdir -p "$golden/ours" "$golden/kaldi"
o=$golden/ours k=$golden/kaldi
graph=exp/mono/graph_tgsmall
cp exp/mono/decode_ours/lat.1.gz $o/lat.1.gz
cp exp/mono_ali/final.mdl exp/mono_ali/tree $o/
gunzip -c exp/mono_ali/ali.1.gz > $o/ali.ark
cp $graph/HCLG.fst $o/HCLG.fst
cp $graph/words.txt data/train/text data/train/utt2spk $o/
PYTHONPATH=$repo "$py" - "$o" <<'EOF'
import sys
from pathlib import Path
from kaldi_kd.data.tables import read_table, write_table
o = Path(sys.argv[1])
feats = list(read_table("scp:data/train/feats.scp"))[:4]
write_table(o / "feats.ark", feats)
write_table(o / "cmvn.ark", list(read_table("scp:data/train/cmvn.scp")))
EOF

log "2. Kaldi reads our files"
lattice-copy "ark:gunzip -c $o/lat.1.gz|" ark,t:$k/ours_lat.txt
lattice-copy "ark:gunzip -c $o/lat.1.gz|" ark:$k/ours_lat.copy.ark
lattice-copy --write-compact=false "ark:gunzip -c $o/lat.1.gz|" ark,t:$k/ours_lat_raw.txt
lattice-best-path --acoustic-scale=0.1 "ark:gunzip -c $o/lat.1.gz|" ark,t:$k/ours_best.int
gmm-info $o/final.mdl > $k/ours_gmm-info.txt
gmm-copy --binary=false $o/final.mdl $k/ours_final.mdl.txt
gmm-copy $o/final.mdl $k/ours_final.mdl.copy
tree-info $o/tree > $k/ours_tree-info.txt
copy-tree --binary=false $o/tree $k/ours_tree.txt
ali-to-pdf $o/final.mdl ark:$o/ali.ark ark,t:$k/ours_ali_pdf.txt
copy-int-vector ark:$o/ali.ark ark:$k/ours_ali.copy.ark
copy-feats ark:$o/feats.ark ark,t:$k/ours_feats.txt
copy-feats ark:$o/feats.ark ark:$k/ours_feats.copy.ark
copy-matrix ark:$o/cmvn.ark ark,t:$k/ours_cmvn.txt
fstinfo $o/HCLG.fst > $k/ours_HCLG.fstinfo

log "3. Kaldi's own files: train_mono.sh, mkgraph.sh, lattices, features, compute-wer"
steps/train_mono.sh --nj 1 --cmd run.pl --totgauss 60 data/train data/lang exp/k_mono > $work/train_mono.log 2>&1 \
  || { tail -30 $work/train_mono.log; exit 1; }
utils/mkgraph.sh data/lang_test_tgsmall exp/k_mono exp/k_mono/graph > $work/mkgraph.log 2>&1 \
  || { tail -30 $work/mkgraph.log; exit 1; }
cp exp/k_mono/final.mdl exp/k_mono/tree exp/k_mono/ali.1.gz exp/k_mono/graph/HCLG.fst $k/
gmm-copy --binary=false exp/k_mono/final.mdl $k/final.mdl.txt
copy-tree --binary=false exp/k_mono/tree $k/tree.txt
fstinfo exp/k_mono/graph/HCLG.fst > $k/HCLG.fstinfo
feats="ark,s,cs:apply-cmvn --utt2spk=ark:data/train/utt2spk scp:data/train/cmvn.scp scp:data/train/feats.scp ark:- | add-deltas ark:- ark:- |"
gmm-compute-likes exp/k_mono/final.mdl "$feats" ark:- | copy-matrix ark:- "ark:| gzip -c > $k/loglikes.ark.gz"
latgen-faster-mapped --acoustic-scale=0.1 --beam=13 --lattice-beam=8 --max-active=7000 \
  --word-symbol-table=exp/k_mono/graph/words.txt exp/k_mono/final.mdl exp/k_mono/graph/HCLG.fst \
  "ark:gunzip -c $k/loglikes.ark.gz|" "ark:|gzip -c > $k/lat.1.gz" 2> $work/latgen.log
lat="ark:gunzip -c $k/lat.1.gz|"
lattice-copy "$lat" ark,t:$k/lat.txt
lattice-copy ark,t:$k/lat.txt ark:$k/lat_from_text.ark
lattice-copy --write-compact=false "$lat" ark:$k/lat_raw.ark
lattice-copy --write-compact=false "$lat" ark,t:$k/lat_raw.txt
lattice-copy --write-compact=false ark,t:$k/lat_raw.txt ark:$k/lat_raw_from_text.ark
lattice-copy "$lat" ark,scp:$k/lat_scp.ark,$k/lat.scp
sed -i "s| $k/| |" $k/lat.scp   # paths relative to the golden dir
lattice-best-path --acoustic-scale=0.1 "$lat" ark,t:$k/best.int
utils/int2sym.pl -f 2- exp/k_mono/graph/words.txt < $k/best.int > $k/best.txt
compute-wer --text --mode=present ark:data/train/text ark:$k/best.txt > $k/compute-wer.txt
cp data/train/text $k/ref.txt
cp exp/k_mono/graph/words.txt $k/words.txt
cp $work/tone.wav $k/tone.wav
echo "tone $k/tone.wav" > $work/wav.scp
compute-mfcc-feats --dither=0 scp:$work/wav.scp ark:$k/mfcc.ark
compute-fbank-feats --dither=0 --num-mel-bins=40 scp:$work/wav.scp ark:$k/fbank.ark
compute-cmvn-stats ark:$k/mfcc.ark ark:$k/mfcc_cmvn.ark
copy-feats ark:$k/mfcc.ark ark,t:$k/mfcc.txt
{
  echo "kaldi_commit $(git -C "$KALDI_ROOT" rev-parse HEAD 2>/dev/null || echo unknown)"
  echo "openfst $(dpkg-query -W -f='${Version}' libfst-dev 2>/dev/null || echo unknown)"
  echo "made $(date -u +%Y-%m-%dT%H:%MZ) by tests/data/kaldi/make_golden.sh"
} > $k/VERSION
log "golden files in $golden: $(du -sk "$golden" | cut -f1) KB"
