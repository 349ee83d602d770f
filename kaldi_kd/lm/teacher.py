"""The frozen-teacher interface the soft-target engine and the KD objective use.

A teacher scores unit sequences: for each position k of each sequence it gives a
distribution q_k over the unit vocabulary, conditioned on context that excludes
s_k itself (causal: s_<k; masked and bidir: s_≠k).  A span-masked teacher
(``span`` "phone" or "word") also excludes every unit of s_k's phone or word and
takes the units' group codes (``bounds``, see :mod:`kaldi_kd.units.segments`).
Teachers are frozen: no grad.
"""

from __future__ import annotations

from typing import Optional, Protocol, runtime_checkable

import torch

KINDS = ("causal", "masked", "bidir")


@runtime_checkable
class Teacher(Protocol):
    """Common interface of every teacher LM.

    Attributes:
        kind: "causal" | "masked" | "bidir".
        vocab_size: V, the number of units (the level's vocabulary incl. specials
            used as inputs; outputs cover the same V ids).
        span: "none" | "phone" | "word" (optional attribute; "none" when absent).
    """

    kind: str
    vocab_size: int

    def segment_logits(self, units: torch.Tensor, lengths: torch.Tensor,
                       bounds: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Unnormalised scores (N, K, V) for every position (no grad).

        Args:
            units: long (N, K) unit ids, padded anywhere past ``lengths``.
            lengths: long (N,) valid lengths.
            bounds: long (N, K) group codes; passed only when ``span`` is not "none".
        Returns:
            float (N, K, V) logits; rows past a sequence's length are arbitrary.
        """
        ...

    def segment_probs(self, units: torch.Tensor, lengths: torch.Tensor,
                      bounds: Optional[torch.Tensor] = None) -> torch.Tensor:
        """softmax(segment_logits) — q_k, (N, K, V), rows summing to 1 (no grad)."""
        ...
