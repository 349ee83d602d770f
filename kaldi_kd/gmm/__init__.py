"""kaldi_kd.gmm"""
