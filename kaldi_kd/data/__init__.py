"""kaldi_kd.data: Kaldi data dirs and features.

datadir (DataDir: load/save/subset/copy), validate, fix, split (utils/*_data_dir.sh),
tables (ark/scp, ali.N.gz), wav (wav.scp entries, pipes, segments), features
(MFCC/fbank from Kaldi configs, CMVN, FeatureReader), transforms (apply_cmvn,
add_deltas, splice), make_feats (N-job extraction), jobs (local/$cmd job running),
atomic (atomic writes).
"""
