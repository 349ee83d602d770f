"""Offline corpora: public-domain LM text and synthesised read speech."""
