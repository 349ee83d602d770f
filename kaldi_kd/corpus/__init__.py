"""Offline corpora: TTS helpers, data dir writing, the digits corpus."""
