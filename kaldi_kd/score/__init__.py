"""kaldi_kd.score"""
