"""Decision-tree building: Kaldi's ``cluster-phones``, ``compile-questions`` and
``build-tree`` on tree statistics (:mod:`kaldi_kd.gmm.tree_stats`).

1. Questions (:func:`cluster_phones`): the phone sets of ``phones/sets.int`` are
   clustered top-down with 2-means on their pooled Gaussian statistics; every
   node of the resulting binary tree is a question (a phone set), then the
   ``extra_questions`` rows are appended.  Pdf-class questions are ``{0..i}``.
2. Stub (Kaldi's GetStubMap): one initial leaf per ``phones/roots.int`` row
   ("shared": all pdf-classes in one leaf; "not-shared": one leaf per pdf-class;
   "not-split": never split).
3. Greedy splitting (SplitDecisionTree): repeatedly split the leaf whose best
   question (on any context position or the pdf-class) gains the most
   log-likelihood, until ``num_leaves`` leaves or no gain above ``thresh``.
4. Clustering (ClusterEventMapRestrictedByMap): within each root, leaves are merged
   bottom-up while the loss is below ``cluster_thresh`` (negative: the smallest
   split gain of step 3, as Kaldi), then down to a multiple of 8 leaves
   (``round_num_leaves``); merged leaves share a pdf.
5. The EventMap (TableEventMap on the central phone → SplitEventMaps → leaves) is
   numbered and returned as a :class:`~kaldi_kd.gmm.event_map.Tree`, written in
   Kaldi's tree format by :func:`kaldi_kd.gmm.model_io.write_tree`.

Differences from Kaldi, stated: questions are not refined by the iterative
re-clustering Kaldi's ``Questions`` options allow; cluster-phones pools all
pdf-classes (Kaldi uses pdf-class 1 by default); the k-means is deterministic.
"""

from __future__ import annotations

import heapq
import logging
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from kaldi_kd.gmm.event_map import PDF_CLASS_KEY, ConstantMap, Node, SplitMap, TableMap, Tree
from kaldi_kd.gmm.tree_stats import VAR_FLOOR, TreeStats, gauss_objf

log = logging.getLogger(__name__)


@dataclass
class TreeConfig:
    """build-tree options (Kaldi's defaults)."""

    num_leaves: int = 2000
    thresh: float = 300.0
    cluster_thresh: float = -1.0
    min_count: float = 0.0      # minimum count on each side of a split (Kaldi has none)
    round_num_leaves: bool = True   # merge further to a multiple of 8 leaves (build-tree's)
    var_floor: float = VAR_FLOOR


# ---------------------------------------------------------------- questions

def _set_stats(stats: TreeStats, phone_sets: Sequence[Sequence[int]]):
    central = stats.events[:, stats.central_position]
    out = []
    for s in phone_sets:
        m = np.isin(central, np.asarray(s))
        out.append((stats.count[m].sum(), stats.x[m].sum(axis=0), stats.x2[m].sum(axis=0)))
    return out


def _objf1(c, x, x2) -> float:
    return float(gauss_objf(np.array([c]), x[None], x2[None])[0])


def _two_means(items: List[int], st, iters: int = 10) -> Tuple[List[int], List[int]]:
    """Split ``items`` (indices into st) in two clusters maximising the Gaussian objf."""
    counts = np.array([st[i][0] for i in items])
    a = items[int(np.argmax(counts))]

    def merge_cost(i, j):
        c, x, x2 = st[i][0] + st[j][0], st[i][1] + st[j][1], st[i][2] + st[j][2]
        return _objf1(*st[i]) + _objf1(*st[j]) - _objf1(c, x, x2)

    b = max((i for i in items if i != a), key=lambda i: merge_cost(a, i))
    assign = {i: (0 if merge_cost(a, i) <= merge_cost(b, i) else 1) for i in items}
    assign[a], assign[b] = 0, 1
    for _ in range(iters):
        sums = []
        for k in (0, 1):
            mem = [i for i in items if assign[i] == k]
            sums.append((sum(st[i][0] for i in mem), sum(st[i][1] for i in mem),
                         sum(st[i][2] for i in mem)))
        changed = False
        for i in items:
            k = assign[i]
            if sum(1 for j in items if assign[j] == k) == 1:
                continue
            # objf change of moving i from k to 1-k
            c, x, x2 = sums[k]
            c2, y, y2 = sums[1 - k]
            ci, xi, x2i = st[i]
            before = _objf1(c, x, x2) + _objf1(c2, y, y2)
            after = _objf1(c - ci, x - xi, x2 - x2i) + _objf1(c2 + ci, y + xi, y2 + x2i)
            if after > before + 1e-9:
                assign[i] = 1 - k
                sums[k] = (c - ci, x - xi, x2 - x2i)
                sums[1 - k] = (c2 + ci, y + xi, y2 + x2i)
                changed = True
        if not changed:
            break
    left = [i for i in items if assign[i] == 0]
    right = [i for i in items if assign[i] == 1]
    return left, right


def cluster_phones(stats: TreeStats, phone_sets: Sequence[Sequence[int]],
                   extra_questions: Sequence[Sequence[int]] = ()) -> List[List[int]]:
    """cluster-phones + extra questions: a list of phone sets (sorted, unique).

    Phone sets without statistics become singleton questions only.
    """
    st = _set_stats(stats, phone_sets)
    seen = [i for i, s in enumerate(st) if s[0] > 0]
    questions: List[List[int]] = []

    def rec(items: List[int]) -> None:
        questions.append(sorted(p for i in items for p in phone_sets[i]))
        if len(items) > 1:
            left, right = _two_means(items, st)
            rec(left)
            rec(right)

    if seen:
        rec(seen)
        questions = questions[1:] if len(seen) > 1 else questions  # the root asks nothing
    questions += [sorted(phone_sets[i]) for i in range(len(phone_sets)) if i not in seen]
    questions += [sorted(q) for q in extra_questions if q]
    out, dup = [], set()
    for q in questions:
        if tuple(q) not in dup:
            dup.add(tuple(q))
            out.append(q)
    return out


def pdf_class_questions(max_pdf_classes: int) -> List[List[int]]:
    """compile-questions' pdf-class questions: {0}, {0,1}, ..., {0..K-2}, and singletons."""
    qs = [list(range(i + 1)) for i in range(max_pdf_classes - 1)]
    qs += [[i] for i in range(1, max_pdf_classes)]
    return qs


# ---------------------------------------------------------------- splitting

@dataclass
class _Leaf:
    idx: np.ndarray           # event row indices
    root: int
    count: float
    x: np.ndarray
    x2: np.ndarray
    objf: float
    best: Optional[Tuple[float, int, List[int]]] = None   # (gain, key, yes_set)
    node: Optional[Node] = None   # ConstantMap placeholder replaced when split


def _group_stats(stats: TreeStats, idx: np.ndarray, col: int):
    vals = stats.events[idx, col]
    order = np.argsort(vals, kind="stable")
    sv = vals[order]
    starts = np.flatnonzero(np.r_[True, sv[1:] != sv[:-1]])
    ii = idx[order]
    c = np.add.reduceat(stats.count[ii], starts)
    x = np.add.reduceat(stats.x[ii], starts, axis=0)
    x2 = np.add.reduceat(stats.x2[ii], starts, axis=0)
    return sv[starts], c, x, x2


class _Splitter:
    def __init__(self, stats: TreeStats, questions: Dict[int, List[List[int]]], cfg: TreeConfig):
        self.stats, self.cfg = stats, cfg
        self.key_cols = {k: (k if k >= 0 else stats.events.shape[1] - 1) for k in questions}
        self.questions = questions

    def leaf(self, idx: np.ndarray, root: int) -> _Leaf:
        s = self.stats
        c, x, x2 = s.count[idx].sum(), s.x[idx].sum(axis=0), s.x2[idx].sum(axis=0)
        objf = float(gauss_objf(np.array([c]), x[None], x2[None], self.cfg.var_floor)[0])
        lf = _Leaf(idx, root, float(c), x, x2, objf, node=ConstantMap(-1))
        lf.best = self.best_split(lf)
        return lf

    def best_split(self, lf: _Leaf) -> Optional[Tuple[float, int, List[int]]]:
        best = None
        if len(lf.idx) < 2:
            return None
        for key, qs in self.questions.items():
            vals, c, x, x2 = _group_stats(self.stats, lf.idx, self.key_cols[key])
            if len(vals) < 2:
                continue
            pos = {v: i for i, v in enumerate(vals.tolist())}
            member = np.zeros((len(qs), len(vals)))
            for qi, q in enumerate(qs):
                for p in q:
                    j = pos.get(p)
                    if j is not None:
                        member[qi, j] = 1.0
            nyes = member.sum(axis=1)
            ok = (nyes > 0) & (nyes < len(vals))
            if not ok.any():
                continue
            m = member[ok]
            yc, yx, yx2 = m @ c, m @ x, m @ x2
            tc, tx, tx2 = c.sum(), x.sum(axis=0), x2.sum(axis=0)
            gain = (gauss_objf(yc, yx, yx2, self.cfg.var_floor)
                    + gauss_objf(tc - yc, tx - yx, tx2 - yx2, self.cfg.var_floor) - lf.objf)
            small = (yc < self.cfg.min_count) | (tc - yc < self.cfg.min_count)
            gain = np.where(small, -np.inf, gain)
            j = int(np.argmax(gain))
            if best is None or gain[j] > best[0]:
                q = [qs[i] for i in np.flatnonzero(ok)][j]
                best = (float(gain[j]), key, sorted(set(q) & set(vals.tolist())))
        return best

    def split(self, lf: _Leaf) -> Tuple[_Leaf, _Leaf]:
        _, key, yes_set = lf.best
        col = self.key_cols[key]
        mask = np.isin(self.stats.events[lf.idx, col], np.asarray(yes_set))
        yes, no = self.leaf(lf.idx[mask], lf.root), self.leaf(lf.idx[~mask], lf.root)
        node = lf.node
        # turn the placeholder into a split in place (parents keep their reference)
        node.__class__ = SplitMap
        node.__dict__.clear()
        node.__dict__.update(key=key, yes_set=yes_set, yes=yes.node, no=no.node)
        return yes, no


@dataclass
class BuildResult:
    """The tree, the event → pdf mapping used to initialise the model, and logs."""

    tree: Tree
    event_pdf: np.ndarray                 # (E,) pdf-id of each stats event
    num_leaves_split: int = 0
    objf_gain: float = 0.0
    split_gains: List[float] = field(default_factory=list)


def build_tree(stats: TreeStats, roots: Sequence[Tuple[str, str, List[int]]],
               phone_questions: Sequence[Sequence[int]], phone2num_pdf_classes: Sequence[int],
               cfg: Optional[TreeConfig] = None) -> BuildResult:
    """build-tree: a triphone ContextDependency tree from tree statistics.

    Args:
        stats: :func:`~kaldi_kd.gmm.tree_stats.accumulate_tree_stats` output.
        roots: phones/roots.int rows: ("shared"|"not-shared", "split"|"not-split", phones).
        phone_questions: phone sets (from :func:`cluster_phones`).
        phone2num_pdf_classes: indexed by phone (topology's get_phone_to_num_pdf_classes()).
        cfg: options.
    """
    cfg = cfg or TreeConfig()
    n, p = stats.context_width, stats.central_position
    max_classes = max(phone2num_pdf_classes)
    questions: Dict[int, List[List[int]]] = {k: [list(q) for q in phone_questions] for k in range(n)}
    questions[PDF_CLASS_KEY] = pdf_class_questions(max_classes)
    splitter = _Splitter(stats, questions, cfg)
    central = stats.events[:, p]
    pdf_class = stats.events[:, -1]
    root_nodes: List[Node] = []
    leaves: List[_Leaf] = []
    splittable: List[bool] = []
    for r, (shared, split, phones) in enumerate(roots):
        in_root = np.flatnonzero(np.isin(central, np.asarray(phones)))
        if shared == "shared":
            lf = splitter.leaf(in_root, r)
            root_nodes.append(lf.node)
            leaves.append(lf)
        else:
            k = max(phone2num_pdf_classes[ph] for ph in phones)
            table = []
            for c in range(k):
                lf = splitter.leaf(in_root[pdf_class[in_root] == c], r)
                table.append(lf.node)
                leaves.append(lf)
            root_nodes.append(TableMap(PDF_CLASS_KEY, table))
        splittable.append(split == "split")
    heap = [(-lf.best[0], i) for i, lf in enumerate(leaves)
            if lf.best is not None and splittable[lf.root]]
    heapq.heapify(heap)
    gains: List[float] = []
    while heap and len(leaves) < cfg.num_leaves:
        neg_gain, i = heapq.heappop(heap)
        if -neg_gain < cfg.thresh:
            break
        yes, no = splitter.split(leaves[i])
        gains.append(-neg_gain)
        leaves[i] = yes
        leaves.append(no)
        for j, lf in ((i, yes), (len(leaves) - 1, no)):
            if lf.best is not None:
                heapq.heappush(heap, (-lf.best[0], j))
    cluster_thresh = cfg.cluster_thresh
    if cluster_thresh < 0:
        cluster_thresh = min(gains) if gains else 0.0
    clusters = _cluster_leaves(leaves, cluster_thresh, cfg.var_floor,
                               8 if cfg.round_num_leaves else 1)
    # number pdfs in leaf order, merged leaves sharing one id
    pdf_of_cluster: Dict[int, int] = {}
    event_pdf = np.full(len(stats.count), -1, np.int64)
    for lf, cl in zip(leaves, clusters):
        pdf = pdf_of_cluster.setdefault(cl, len(pdf_of_cluster))
        lf.node.answer = pdf
        event_pdf[lf.idx] = pdf
    table: List[Optional[Node]] = [None] * (1 + max(ph for _, _, phs in roots for ph in phs))
    for node, (_, _, phones) in zip(root_nodes, roots):
        for ph in phones:
            table[ph] = node
    tree = Tree(n, p, TableMap(p, table))
    log.info("build-tree: %d leaves after splitting (%d splits, objf gain %.1f), %d pdfs "
             "after clustering at threshold %.1f", len(leaves), len(gains), sum(gains),
             len(pdf_of_cluster), cluster_thresh)
    return BuildResult(tree, event_pdf, len(leaves), float(sum(gains)), gains)


def _cluster_leaves(leaves: List[_Leaf], thresh: float, var_floor: float,
                    round_to: int = 8) -> List[int]:
    """Bottom-up merging of leaves within each root (ClusterEventMapRestrictedByMap):
    cheapest merges first while the objf loss < ``thresh``; then, as build-tree's
    ``--round-num-leaves``, more merges until the count is a multiple of ``round_to``.

    Returns:
        a cluster id per leaf (the id of one of its members).
    """
    groups: Dict[int, Tuple[float, np.ndarray, np.ndarray, int]] = {
        i: (lf.count, lf.x, lf.x2, lf.root) for i, lf in enumerate(leaves)}
    cluster = list(range(len(leaves)))

    def best_pair() -> Tuple[float, int, int]:
        best = (np.inf, -1, -1)
        by_root: Dict[int, List[int]] = {}
        for k, g in groups.items():
            by_root.setdefault(g[3], []).append(k)
        for keys in by_root.values():
            if len(keys) < 2:
                continue
            c = np.array([groups[k][0] for k in keys])
            x = np.stack([groups[k][1] for k in keys])
            x2 = np.stack([groups[k][2] for k in keys])
            single = gauss_objf(c, x, x2, var_floor)
            pobj = gauss_objf(c[:, None] + c[None, :], x[:, None] + x[None, :],
                              x2[:, None] + x2[None, :], var_floor)
            loss = single[:, None] + single[None, :] - pobj
            np.fill_diagonal(loss, np.inf)
            a, b = np.unravel_index(np.argmin(loss), loss.shape)
            if loss[a, b] < best[0]:
                best = (float(loss[a, b]), keys[a], keys[b])
        return best

    def merge(ka: int, kb: int) -> None:
        ga, gb = groups.pop(ka), groups.pop(kb)
        groups[ka] = (ga[0] + gb[0], ga[1] + gb[1], ga[2] + gb[2], ga[3])
        for i, c in enumerate(cluster):
            if c == kb:
                cluster[i] = ka

    while len(groups) > 1:
        loss, ka, kb = best_pair()
        if ka < 0 or loss >= thresh:
            break
        merge(ka, kb)
    if round_to > 1 and len(groups) > round_to:
        target = (len(groups) // round_to) * round_to
        while len(groups) > target:
            _, ka, kb = best_pair()
            if ka < 0:
                break
            merge(ka, kb)
    return cluster
