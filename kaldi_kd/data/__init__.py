"""kaldi_kd.data"""
