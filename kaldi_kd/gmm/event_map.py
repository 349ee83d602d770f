"""Kaldi's EventMap trees and the ContextDependency (``tree``) file, in Python.

The wheel's ``ContextDependency`` can be used (compute, get_pdf_info) but not built
from a tree in Python.  This module holds the three EventMap node kinds Kaldi has,
reads and writes them exactly as Kaldi's ``tree/event-map.cc`` does, and turns a
:class:`Tree` into the wheel object through its pickle state, which is Kaldi's
binary tree format.

An *event* maps keys to values: keys ``0..N-1`` are phone positions of the
context window (value: phone id, 0 past an utterance edge), key ``-1``
(``kPdfClass``) is the pdf-class.  The *answer* of a leaf is a pdf-id.

Serialised forms (binary mode adds Kaldi's size bytes, see ``serial``):
- ``NULL``
- ``CE <answer>``
- ``TE <key> <size uint32> ( <map>... )``
- ``SE <key> [ <yes-set> ] { <yes-map> <no-map> }``
A tree file: ``ContextDependency <N> <P> ToPdf <map> EndContextDependency``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Union

import numpy as np

from kaldi_kd.gmm.serial import BINARY_HEADER, KaldiFormatError, Reader, Writer, open_kaldi_bytes

PDF_CLASS_KEY = -1  # Kaldi's kPdfClass


@dataclass
class ConstantMap:
    """A leaf: every event maps to ``answer``."""

    answer: int


@dataclass
class TableMap:
    """Dispatch on the value of ``key``: ``table[value]`` (None means no answer)."""

    key: int
    table: List[Optional["Node"]]


@dataclass
class SplitMap:
    """A question: is the value of ``key`` in ``yes_set``?"""

    key: int
    yes_set: List[int]
    yes: "Node"
    no: "Node"


Node = Union[ConstantMap, TableMap, SplitMap]


def map_event(node: Optional[Node], event: Dict[int, int]) -> Optional[int]:
    """Return the answer for ``event`` (a key → value dict), or None if undefined."""
    while node is not None:
        if isinstance(node, ConstantMap):
            return node.answer
        value = event.get(node.key)
        if value is None:
            return None
        if isinstance(node, TableMap):
            node = node.table[value] if 0 <= value < len(node.table) else None
        else:
            node = node.yes if value in node.yes_set else node.no
    return None


def leaves(node: Optional[Node]) -> List[int]:
    """All answers (pdf-ids) in the tree, in depth-first order."""
    if node is None:
        return []
    if isinstance(node, ConstantMap):
        return [node.answer]
    if isinstance(node, TableMap):
        return [a for child in node.table for a in leaves(child)]
    return leaves(node.yes) + leaves(node.no)


def write_node(w: Writer, node: Optional[Node]) -> None:
    """EventMap::Write for ``node`` (None writes ``NULL``)."""
    if node is None:
        w.token("NULL")
    elif isinstance(node, ConstantMap):
        w.token("CE")
        w.int32(node.answer)
    elif isinstance(node, TableMap):
        w.token("TE")
        w.int32(node.key)
        w.int32(len(node.table), unsigned=True)
        w.token("(")
        for child in node.table:
            write_node(w, child)
        w.token(")")
        w.newline()
    else:
        w.token("SE")
        w.int32(node.key)
        w.int_vector(sorted(set(node.yes_set)))
        w.token("{")
        write_node(w, node.yes)
        write_node(w, node.no)
        w.token("}")
        w.newline()


def read_node(r: Reader) -> Optional[Node]:
    """EventMap::Read."""
    kind = r.token()
    if kind == "NULL":
        return None
    if kind == "CE":
        return ConstantMap(r.int32())
    if kind == "TE":
        key = r.int32()
        size = r.int32()
        r.expect("(")
        table = [read_node(r) for _ in range(size)]
        r.expect(")")
        return TableMap(key, table)
    if kind == "SE":
        key = r.int32()
        yes_set = r.int_vector()
        r.expect("{")
        yes = read_node(r)
        no = read_node(r)
        r.expect("}")
        if yes is None or no is None:
            raise KaldiFormatError(f"{r.name}: SplitEventMap with a NULL branch")
        return SplitMap(key, yes_set, yes, no)
    raise KaldiFormatError(f"{r.name}: unknown EventMap type {kind!r} at byte {r.pos}")


@dataclass
class Tree:
    """A ContextDependency: context width N, central position P, the pdf EventMap."""

    context_width: int
    central_position: int
    to_pdf: Optional[Node] = field(default=None)

    def num_pdfs(self) -> int:
        """1 + the largest pdf-id in the tree (Kaldi's NumPdfs)."""
        answers = leaves(self.to_pdf)
        return 1 + max(answers) if answers else 0

    def to_bytes(self, binary: bool = True) -> bytes:
        """The tree file's bytes (with ``"\\0B"`` when binary), as Kaldi writes them."""
        w = Writer(binary)
        w.token("ContextDependency")
        w.int32(self.context_width)
        w.int32(self.central_position)
        w.token("ToPdf")
        write_node(w, self.to_pdf)
        w.token("EndContextDependency")
        return (BINARY_HEADER if binary else b"") + w.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, name: str = "<bytes>") -> "Tree":
        """Parse a tree file's bytes (binary with header, or text)."""
        payload, binary = open_kaldi_bytes(data)
        r = Reader(payload, binary, name)
        r.expect("ContextDependency")
        n, p = r.int32(), r.int32()
        r.expect("ToPdf")
        to_pdf = read_node(r)
        r.expect("EndContextDependency")
        return cls(n, p, to_pdf)

    def to_context_dependency(self):
        """Build the wheel's ``kaldi_hmm_gmm.ContextDependency`` from this tree."""
        from kaldi_kd.kaldi.wheels import kaldi_hmm_gmm

        payload = self.to_bytes(binary=True)[len(BINARY_HEADER):]
        state = np.frombuffer(payload, dtype=np.int8).tolist()
        ctx = kaldi_hmm_gmm.ContextDependency.__new__(kaldi_hmm_gmm.ContextDependency)
        ctx.__setstate__((state,))
        return ctx

    @classmethod
    def from_context_dependency(cls, ctx_dep) -> "Tree":
        """Parse the wheel object's state (Kaldi binary tree) into a :class:`Tree`."""
        payload = np.asarray(ctx_dep.__getstate__()[0], dtype=np.int8).tobytes()
        return cls.from_bytes(BINARY_HEADER + payload, name="ContextDependency")
