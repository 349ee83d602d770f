// Word-level pruned determinization (see lattice_determinize.h).
#include "lattice_determinize.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <queue>
#include <unordered_map>
#include <utility>
#include <vector>

namespace kkd {

namespace {

// Transition-id strings as a trie: a string is a node, its parent the string one label
// shorter.  Appending a label is one hash lookup, equal strings have equal ids, and no
// string is ever copied while determinizing.  Node 0 is the empty string.
class StringTrie {
 public:
  StringTrie() : parent_{-1}, label_{0}, depth_{0} {}

  int32_t Append(int32_t str, int32_t label) {
    const uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(str)) << 32) | static_cast<uint32_t>(label);
    size_t mask = table_.size() - 1, i = Hash(key) & mask;
    while (table_[i].first != kEmpty) {
      if (table_[i].first == key) return table_[i].second;
      i = (i + 1) & mask;
    }
    const int32_t id = static_cast<int32_t>(parent_.size());
    parent_.push_back(str);
    label_.push_back(label);
    depth_.push_back(depth_[str] + 1);
    table_[i] = {key, id};
    if (2 * parent_.size() > table_.size()) Grow();
    return id;
  }
  int32_t Depth(int32_t str) const { return depth_[str]; }
  // The prefix of `str` of length `depth`.
  int32_t Ancestor(int32_t str, int32_t depth) const {
    while (depth_[str] > depth) str = parent_[str];
    return str;
  }
  // The longest common prefix of a and b.
  int32_t CommonPrefix(int32_t a, int32_t b) const {
    if (depth_[a] > depth_[b]) a = Ancestor(a, depth_[b]);
    if (depth_[b] > depth_[a]) b = Ancestor(b, depth_[a]);
    while (a != b) {
      a = parent_[a];
      b = parent_[b];
    }
    return a;
  }
  // `str` without its first `k` labels.
  int32_t RemovePrefix(int32_t str, int32_t k) {
    if (k == 0) return str;
    std::vector<int32_t> &tail = scratch_;
    tail.clear();
    for (int32_t s = str; depth_[s] > k; s = parent_[s]) tail.push_back(label_[s]);
    int32_t out = 0;
    for (auto it = tail.rbegin(); it != tail.rend(); ++it) out = Append(out, *it);
    return out;
  }
  int32_t Concat(int32_t a, int32_t b) {
    if (b == 0) return a;
    std::vector<int32_t> labels = Labels(b);
    for (int32_t l : labels) a = Append(a, l);
    return a;
  }
  std::vector<int32_t> Labels(int32_t str) const {
    std::vector<int32_t> out(depth_[str]);
    for (int32_t s = str, i = depth_[str] - 1; s != 0; s = parent_[s], --i) out[i] = label_[s];
    return out;
  }
  // Kaldi's string order for equal weights: the shorter first, then lexicographic.
  // Negative: a before b.
  int Compare(int32_t a, int32_t b) const {
    if (a == b) return 0;
    if (depth_[a] != depth_[b]) return depth_[a] < depth_[b] ? -1 : 1;
    const std::vector<int32_t> la = Labels(a), lb = Labels(b);
    return la < lb ? -1 : 1;
  }

 private:
  static constexpr uint64_t kEmpty = ~0ULL;
  static size_t Hash(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return static_cast<size_t>(k);
  }
  void Grow() {
    std::vector<std::pair<uint64_t, int32_t>> old;
    old.swap(table_);
    table_.assign(old.size() * 2, {kEmpty, 0});
    const size_t mask = table_.size() - 1;
    for (const auto &e : old) {
      if (e.first == kEmpty) continue;
      size_t i = Hash(e.first) & mask;
      while (table_[i].first != kEmpty) i = (i + 1) & mask;
      table_[i] = e;
    }
  }

  std::vector<int32_t> parent_, label_, depth_;
  std::vector<std::pair<uint64_t, int32_t>> table_{std::vector<std::pair<uint64_t, int32_t>>(1 << 10, {kEmpty, 0})};
  std::vector<int32_t> scratch_;
};

// Kaldi's order on (graph, acoustic, string) weights: lower total cost first, then
// lower graph cost, then the string order.  Negative: a better than b.
int CompareWeights(double ga, double aa, int32_t sa, double gb, double ab, int32_t sb, const StringTrie &t) {
  const double ta = ga + aa, tb = gb + ab;
  if (ta != tb) return ta < tb ? -1 : 1;
  if (ga != gb) return ga < gb ? -1 : 1;
  return t.Compare(sa, sb);
}

template <class T>
struct VectorHash {
  size_t operator()(const std::vector<T> &v) const {
    uint64_t h = 1469598103934665603ULL ^ v.size();
    for (T x : v) {
      h ^= static_cast<uint64_t>(x);
      h *= 1099511628211ULL;
    }
    return static_cast<size_t>(h ^ (h >> 29));
  }
};

// An acyclic lattice with labels, (graph, acoustic) weights and at most one
// transition-id per arc; states numbered topologically (every arc goes to a higher
// state).  Final weights carry no string.
struct LabelArc {
  int32_t label;  // 0: epsilon
  double g, a;
  int32_t tid;  // 0: none
  int32_t next;
};

struct LabelLattice {
  int32_t start = -1;
  std::vector<uint32_t> first{0};
  std::vector<LabelArc> arcs;
  std::vector<CompactFinal> finals;
  int32_t NumStates() const { return static_cast<int32_t>(finals.size()); }
};

struct Elem {  // an input state of a determinized state, with its residual weight and string
  int32_t state;
  double g, a;
  int32_t str;
};

struct Source {  // a closure source: a labelled arc's destination, residual string + the arc's tid
  int32_t state;
  double g, a;
  int32_t str, tid;
};

struct TooBig {};

class Determinizer {
 public:
  Determinizer(const LabelLattice &lat, double beam, double delta, int32_t max_states, StringTrie *strings);
  void Run(CompactLattice *out);  // throws TooBig
  int64_t Visits() const { return visits_; }
  int32_t NumStates() const { return static_cast<int32_t>(states_.size()); }

 private:
  struct DetState {
    std::vector<Elem> elems;
    double fwd, h;
    bool done;
  };
  struct Candidate {
    int32_t label, dest;
    double g, a;
    int32_t str, tid;  // residual string, then tid
  };

  // The frontier elements reached from `sources` over epsilon arcs (best path to each,
  // ties to the lower graph cost, then the first found), in increasing state order.
  void Closure(const std::vector<Source> &sources, std::vector<Elem> *out);
  int32_t PathString(int32_t s);
  // Normalises `elems` reached with forward cost `fwd`; returns the state and sets
  // the divisor (*g, *a, *prefix).
  int32_t StateFor(std::vector<Elem> *elems, double fwd, double *g, double *a, int32_t *prefix);
  void Expand(int32_t sid);

  const LabelLattice &lat_;
  const double delta_;
  const int32_t max_states_;
  StringTrie &strings_;
  std::vector<uint32_t> word_first_, eps_first_;
  std::vector<LabelArc> word_arcs_, eps_arcs_;
  std::vector<char> frontier_;
  std::vector<double> beta_;
  double cutoff_;
  std::vector<DetState> states_;
  std::unordered_map<std::vector<int32_t>, std::vector<int32_t>, VectorHash<int32_t>> ids_;
  std::priority_queue<std::pair<double, int32_t>, std::vector<std::pair<double, int32_t>>,
                      std::greater<std::pair<double, int32_t>>>
      heap_;
  CompactLattice *out_ = nullptr;
  // closure scratch, indexed by input state
  std::vector<double> cg_, ca_;
  std::vector<int32_t> cprev_, ctid_, cbase_, cstr_, cstr_stamp_, cstamp_, path_scratch_;
  int32_t stamp_ = 0;
  int64_t visits_ = 0;
};

Determinizer::Determinizer(const LabelLattice &lat, double beam, double delta, int32_t max_states,
                           StringTrie *strings)
    : lat_(lat), delta_(delta), max_states_(max_states), strings_(*strings) {
  const int32_t n = lat.NumStates();
  word_first_.assign(n + 1, 0);
  eps_first_.assign(n + 1, 0);
  frontier_.assign(n, 0);
  for (int32_t s = 0; s < n; ++s) {
    for (uint32_t i = lat.first[s]; i < lat.first[s + 1]; ++i) {
      const LabelArc &arc = lat.arcs[i];
      (arc.label != 0 ? word_arcs_ : eps_arcs_).push_back(arc);
    }
    word_first_[s + 1] = static_cast<uint32_t>(word_arcs_.size());
    eps_first_[s + 1] = static_cast<uint32_t>(eps_arcs_.size());
    frontier_[s] = word_first_[s + 1] > word_first_[s] || lat.finals[s].is_final;
  }
  beta_.assign(n, kInf);
  for (int32_t s = n - 1; s >= 0; --s) {
    double b = lat.finals[s].is_final ? lat.finals[s].graph + lat.finals[s].acoustic : kInf;
    for (uint32_t i = lat.first[s]; i < lat.first[s + 1]; ++i) {
      const LabelArc &arc = lat.arcs[i];
      double c = arc.g + arc.a + beta_[arc.next];
      if (c < b) b = c;
    }
    beta_[s] = b;
  }
  cutoff_ = beta_[lat.start] + beam;
  cg_.assign(n, 0.0);
  ca_.assign(n, 0.0);
  cprev_.assign(n, -1);
  ctid_.assign(n, 0);
  cbase_.assign(n, 0);
  cstr_.assign(n, 0);
  cstr_stamp_.assign(n, 0);
  cstamp_.assign(n, 0);
}

int32_t Determinizer::PathString(int32_t s) {
  // Strings are made lazily, only for the states on best paths to frontier states, each
  // once: a state's string is its best predecessor's (or, for a source, its residual)
  // followed by the transition-id of the arc in.
  std::vector<int32_t> &path = path_scratch_;
  path.clear();
  int32_t str;
  for (;;) {
    if (cstr_stamp_[s] == stamp_) {
      str = cstr_[s];
      break;
    }
    path.push_back(s);
    if (cprev_[s] < 0) {
      str = cbase_[s];
      break;
    }
    s = cprev_[s];
  }
  for (auto it = path.rbegin(); it != path.rend(); ++it) {
    if (ctid_[*it] != 0) str = strings_.Append(str, ctid_[*it]);
    cstr_[*it] = str;
    cstr_stamp_[*it] = stamp_;
  }
  return str;
}

void Determinizer::Closure(const std::vector<Source> &sources, std::vector<Elem> *out) {
  // Not pruned (the input is): the subset of a set of sources is then the same whichever
  // determinized state they are reached from, so such states merge, as in Kaldi's.
  out->clear();
  ++stamp_;
  std::priority_queue<int32_t, std::vector<int32_t>, std::greater<int32_t>> queue;
  for (const Source &src : sources) {
    if (cstamp_[src.state] == stamp_) continue;
    cstamp_[src.state] = stamp_;
    cg_[src.state] = src.g;
    ca_[src.state] = src.a;
    cprev_[src.state] = -1;
    cbase_[src.state] = src.str;
    ctid_[src.state] = src.tid;
    cstr_stamp_[src.state] = 0;
    queue.push(src.state);
  }
  // states are numbered topologically: popping the smallest keeps a topological order,
  // and a popped state's best path is final
  while (!queue.empty()) {
    const int32_t s = queue.top();
    queue.pop();
    const double g = cg_[s], a = ca_[s];
    ++visits_;
    if (frontier_[s]) out->push_back(Elem{s, g, a, PathString(s)});
    for (uint32_t i = eps_first_[s]; i < eps_first_[s + 1]; ++i) {
      const LabelArc &arc = eps_arcs_[i];
      const int32_t e = arc.next;
      const double ng = g + arc.g, na = a + arc.a;
      if (cstamp_[e] != stamp_) {
        cstamp_[e] = stamp_;
        queue.push(e);
      } else {
        const double cur = cg_[e] + ca_[e];
        if (!(ng + na < cur || (ng + na == cur && ng < cg_[e]))) continue;
      }
      cg_[e] = ng;
      ca_[e] = na;
      cprev_[e] = s;
      ctid_[e] = arc.tid;
      cstr_stamp_[e] = 0;
    }
  }
}

int32_t Determinizer::StateFor(std::vector<Elem> *elems, double fwd, double *g_out, double *a_out,
                               int32_t *prefix_out) {
  std::vector<Elem> &v = *elems;  // sorted by input state (closure pop order)
  size_t best = 0;
  int32_t prefix = v[0].str;
  for (size_t i = 1; i < v.size(); ++i) {
    if (CompareWeights(v[i].g, v[i].a, v[i].str, v[best].g, v[best].a, v[best].str, strings_) < 0) best = i;
    if (prefix != 0) prefix = strings_.CommonPrefix(prefix, v[i].str);
  }
  const double gb = v[best].g, ab = v[best].a;
  const int32_t k = strings_.Depth(prefix);
  // Kaldi's subset identity: the same states with the same strings, and total residual
  // weights within delta of each other (hashed on states and strings only)
  std::vector<int32_t> key;
  key.reserve(2 * v.size());
  double h = kInf;
  for (Elem &e : v) {
    e.g -= gb;
    e.a -= ab;
    e.str = strings_.RemovePrefix(e.str, k);
    key.push_back(e.state);
    key.push_back(e.str);
    h = std::min(h, e.g + e.a + beta_[e.state]);
  }
  *g_out = gb;
  *a_out = ab;
  *prefix_out = prefix;
  fwd = fwd + gb + ab;
  std::vector<int32_t> &same_key = ids_[key];
  for (int32_t id : same_key) {
    const std::vector<Elem> &w = states_[id].elems;
    bool equal = true;
    for (size_t i = 0; i < v.size() && equal; ++i)
      equal = std::fabs((v[i].g + v[i].a) - (w[i].g + w[i].a)) <= delta_;
    if (!equal) continue;
    if (fwd < states_[id].fwd) {
      states_[id].fwd = fwd;
      heap_.emplace(fwd + states_[id].h, id);
    }
    return id;
  }
  const int32_t id = out_->AddState();
  if (id >= max_states_) throw TooBig();
  same_key.push_back(id);
  states_.push_back(DetState{v, fwd, h, false});
  heap_.emplace(fwd + h, id);
  return id;
}

void Determinizer::Expand(int32_t sid) {
  const double fwd = states_[sid].fwd;
  const std::vector<Elem> elems = states_[sid].elems;  // states_ grows below
  bool has_final = false;
  double fin_g = 0.0, fin_a = 0.0;
  int32_t fin_str = 0;
  std::vector<Candidate> cands;
  for (const Elem &e : elems) {
    const CompactFinal &f = lat_.finals[e.state];
    if (f.is_final) {
      const double g = e.g + f.graph, a = e.a + f.acoustic;
      if (!has_final || CompareWeights(g, a, e.str, fin_g, fin_a, fin_str, strings_) < 0) {
        has_final = true;
        fin_g = g;
        fin_a = a;
        fin_str = e.str;
      }
    }
    for (uint32_t i = word_first_[e.state]; i < word_first_[e.state + 1]; ++i) {
      const LabelArc &arc = word_arcs_[i];
      cands.push_back(Candidate{arc.label, arc.next, e.g + arc.g, e.a + arc.a, e.str, arc.tid});
    }
  }
  if (has_final && fwd + fin_g + fin_a <= cutoff_) out_->finals[sid] = CompactFinal{true, fin_g, fin_a, fin_str};
  std::stable_sort(cands.begin(), cands.end(), [](const Candidate &x, const Candidate &y) {
    return x.label != y.label ? x.label < y.label : x.dest < y.dest;
  });
  auto cand_string = [&](const Candidate &c) { return c.tid != 0 ? strings_.Append(c.str, c.tid) : c.str; };
  std::vector<Source> sources;
  std::vector<Elem> closure;
  size_t i = 0;
  while (i < cands.size()) {
    // all arcs with this label, whose best path must be within the beam (Kaldi's task)
    const int32_t label = cands[i].label;
    sources.clear();
    double group_best = kInf;
    while (i < cands.size() && cands[i].label == label) {
      // the best candidate per destination (the first of equals)
      size_t best = i;
      const int32_t dest = cands[i].dest;
      for (++i; i < cands.size() && cands[i].label == label && cands[i].dest == dest; ++i) {
        const Candidate &c = cands[i], &b = cands[best];
        const double tc = c.g + c.a, tb = b.g + b.a;
        bool better = tc < tb || (tc == tb && c.g < b.g);
        if (tc == tb && c.g == b.g) better = strings_.Compare(cand_string(c), cand_string(b)) < 0;
        if (better) best = i;
      }
      const Candidate &b = cands[best];
      sources.push_back(Source{b.dest, b.g, b.a, b.str, b.tid});
      group_best = std::min(group_best, b.g + b.a + beta_[b.dest]);
    }
    if (fwd + group_best > cutoff_) continue;
    Closure(sources, &closure);
    if (closure.empty()) continue;
    double g, a;
    int32_t prefix;
    const int32_t next = StateFor(&closure, fwd, &g, &a, &prefix);
    out_->arcs[sid].push_back(CompactArc{label, g, a, prefix, next});
  }
}

void Determinizer::Run(CompactLattice *out) {
  out_ = out;
  std::vector<Source> start_sources{Source{lat_.start, 0.0, 0.0, 0, 0}};
  std::vector<Elem> start_elems;
  Closure(start_sources, &start_elems);
  if (start_elems.empty()) return;
  double g, a;
  int32_t prefix;
  const int32_t start = StateFor(&start_elems, 0.0, &g, &a, &prefix);
  out->start = start;
  while (!heap_.empty()) {
    const auto top = heap_.top();
    heap_.pop();
    DetState &st = states_[top.second];
    if (st.done || top.first > st.fwd + st.h + 1e-9) continue;  // expanded, or stale
    if (top.first > cutoff_) break;
    st.done = true;
    Expand(top.second);
  }
  if (g != 0.0 || a != 0.0 || prefix != 0) {
    // the start set's divisor belongs on every path: a new start state carries it
    const int32_t old = out->start, fresh = out->AddState();
    out->start = fresh;
    for (size_t j = 0; j < out->arcs[old].size(); ++j) {
      const CompactArc arc = out->arcs[old][j];
      out->arcs[fresh].push_back(
          CompactArc{arc.word, arc.graph + g, arc.acoustic + a, strings_.Concat(prefix, arc.string), arc.next});
    }
    const CompactFinal f = out->finals[old];
    if (f.is_final)
      out->finals[fresh] = CompactFinal{true, f.graph + g, f.acoustic + a, strings_.Concat(prefix, f.string)};
  }
}

// Kahn's topological order of the states of a raw lattice reachable from its start;
// false on a cycle.
bool TopologicalOrder(const RawLattice &lat, std::vector<int32_t> *order) {
  order->clear();
  const int32_t n = lat.NumStates();
  if (lat.start < 0 || lat.start >= n) return true;
  std::vector<char> reach(n, 0);
  std::vector<int32_t> indegree(n, 0), stack{lat.start};
  reach[lat.start] = 1;
  int32_t num_reached = 1;
  while (!stack.empty()) {
    int32_t s = stack.back();
    stack.pop_back();
    for (uint32_t j = lat.first[s]; j < lat.first[s + 1]; ++j) {
      const int32_t d = lat.arcs[j].next;
      ++indegree[d];
      if (!reach[d]) {
        reach[d] = 1;
        ++num_reached;
        stack.push_back(d);
      }
    }
  }
  order->push_back(lat.start);
  for (size_t h = 0; h < order->size(); ++h) {
    const int32_t s = (*order)[h];
    for (uint32_t j = lat.first[s]; j < lat.first[s + 1]; ++j)
      if (--indegree[lat.arcs[j].next] == 0) order->push_back(lat.arcs[j].next);
  }
  return static_cast<int32_t>(order->size()) == num_reached;
}

// Keeps the arcs of `in` on paths within `beam` of its best path, renumbered
// topologically; tightens the beam when more than max_arcs arcs are within it.
bool PruneRaw(const RawLattice &in, double beam, int64_t max_arcs, RawLattice *out, double *beam_used,
              bool *tightened, std::string *err) {
  out->Clear();
  *beam_used = beam;
  std::vector<int32_t> order;
  if (!TopologicalOrder(in, &order)) {
    *err = "lattice has a cycle; expected an acyclic lattice";
    return false;
  }
  const int32_t n = static_cast<int32_t>(order.size());
  if (n == 0) return true;
  std::vector<int32_t> pos(in.NumStates(), -1);
  for (int32_t i = 0; i < n; ++i) pos[order[i]] = i;
  std::vector<double> alpha(n, kInf), beta(n, kInf);
  alpha[0] = 0.0;
  int64_t num_arcs = 0;
  for (int32_t i = 0; i < n; ++i) {
    const int32_t s = order[i];
    num_arcs += in.first[s + 1] - in.first[s];
    if (alpha[i] == kInf) continue;
    for (uint32_t j = in.first[s]; j < in.first[s + 1]; ++j) {
      const LatArc &arc = in.arcs[j];
      double c = alpha[i] + arc.graph + arc.acoustic;
      int32_t d = pos[arc.next];
      if (c < alpha[d]) alpha[d] = c;
    }
  }
  for (int32_t i = n - 1; i >= 0; --i) {
    const int32_t s = order[i];
    double b = in.IsFinal(s) ? static_cast<double>(in.final_graph[s]) + in.final_acoustic[s] : kInf;
    for (uint32_t j = in.first[s]; j < in.first[s + 1]; ++j) {
      const LatArc &arc = in.arcs[j];
      double c = static_cast<double>(arc.graph) + arc.acoustic + beta[pos[arc.next]];
      if (c < b) b = c;
    }
    beta[i] = b;
  }
  if (beta[0] == kInf) return true;
  const double best = beta[0];
  if (max_arcs > 0 && num_arcs > max_arcs) {
    std::vector<double> through;
    through.reserve(num_arcs);
    for (int32_t i = 0; i < n; ++i) {
      const int32_t s = order[i];
      for (uint32_t j = in.first[s]; j < in.first[s + 1]; ++j) {
        const LatArc &arc = in.arcs[j];
        through.push_back(alpha[i] + arc.graph + arc.acoustic + beta[pos[arc.next]] - best);
      }
    }
    int64_t within = std::count_if(through.begin(), through.end(), [beam](double c) { return c <= beam; });
    if (within > max_arcs) {
      std::nth_element(through.begin(), through.begin() + (max_arcs - 1), through.end());
      beam = std::min(through[max_arcs - 1], beam);
      *tightened = true;
      *beam_used = beam;
    }
  }
  const double cutoff = best + beam;
  std::vector<int32_t> new_id(n, -1);
  int32_t kept = 0;
  for (int32_t i = 0; i < n; ++i)
    if (alpha[i] + beta[i] <= cutoff) new_id[i] = kept++;
  out->start = 0;
  out->first.assign(kept + 1, 0);
  out->final_graph.assign(kept, std::numeric_limits<float>::infinity());
  out->final_acoustic.assign(kept, 0.0f);
  for (int32_t i = 0; i < n; ++i) {
    if (new_id[i] < 0) continue;
    const int32_t s = order[i];
    for (uint32_t j = in.first[s]; j < in.first[s + 1]; ++j) {
      LatArc arc = in.arcs[j];
      const int32_t d = pos[arc.next];
      if (new_id[d] < 0 || alpha[i] + arc.graph + arc.acoustic + beta[d] > cutoff) continue;
      arc.next = new_id[d];
      out->arcs.push_back(arc);
    }
    out->first[new_id[i] + 1] = static_cast<uint32_t>(out->arcs.size());
    if (in.IsFinal(s) && alpha[i] + in.final_graph[s] + in.final_acoustic[s] <= cutoff) {
      out->final_graph[new_id[i]] = in.final_graph[s];
      out->final_acoustic[new_id[i]] = in.final_acoustic[s];
    }
  }
  return true;
}

// Keeps arcs and finals on paths within `beam` of the best; renumbers topologically.
void PruneCompact(const CompactLattice &in, double beam, CompactLattice *out) {
  out->start = -1;
  out->arcs.clear();
  out->finals.clear();
  if (in.start < 0) return;
  const int32_t n = in.NumStates();
  std::vector<int32_t> indegree(n, 0), order;
  std::vector<char> reach(n, 0);
  std::vector<int32_t> stack{in.start};
  reach[in.start] = 1;
  while (!stack.empty()) {
    int32_t s = stack.back();
    stack.pop_back();
    for (const CompactArc &arc : in.arcs[s]) {
      ++indegree[arc.next];
      if (!reach[arc.next]) {
        reach[arc.next] = 1;
        stack.push_back(arc.next);
      }
    }
  }
  order.push_back(in.start);
  for (size_t h = 0; h < order.size(); ++h)
    for (const CompactArc &arc : in.arcs[order[h]])
      if (--indegree[arc.next] == 0) order.push_back(arc.next);
  std::vector<double> alpha(n, kInf), beta(n, kInf);
  alpha[in.start] = 0.0;
  for (int32_t s : order)
    if (alpha[s] != kInf)
      for (const CompactArc &arc : in.arcs[s])
        alpha[arc.next] = std::min(alpha[arc.next], alpha[s] + arc.graph + arc.acoustic);
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    const int32_t s = *it;
    double b = in.finals[s].is_final ? in.finals[s].graph + in.finals[s].acoustic : kInf;
    for (const CompactArc &arc : in.arcs[s]) b = std::min(b, arc.graph + arc.acoustic + beta[arc.next]);
    beta[s] = b;
  }
  if (beta[in.start] == kInf) return;
  const double cutoff = beta[in.start] + beam;
  std::vector<int32_t> new_id(n, -1);
  for (int32_t s : order)
    if (alpha[s] + beta[s] <= cutoff) new_id[s] = out->AddState();
  out->start = 0;
  for (int32_t s : order) {
    if (new_id[s] < 0) continue;
    for (const CompactArc &arc : in.arcs[s]) {
      if (new_id[arc.next] < 0 || alpha[s] + arc.graph + arc.acoustic + beta[arc.next] > cutoff) continue;
      CompactArc a = arc;
      a.next = new_id[arc.next];
      out->arcs[new_id[s]].push_back(a);
    }
    const CompactFinal &f = in.finals[s];
    if (f.is_final && alpha[s] + f.graph + f.acoustic <= cutoff) out->finals[new_id[s]] = f;
  }
}

// The pruned raw lattice as a label lattice on words.  With a phone table the phone
// marks are added as Kaldi's DeterminizeLatticePhonePruned adds them: an arc whose
// transition-id starts a phone (not from the start state) gets the label
// first_phone + phone, or, when it has a word, is followed by an extra arc with that
// label; the extra state is numbered right after its source, so the numbering stays
// topological.
void RawToLabels(const RawLattice &raw, const std::vector<int32_t> *phone_start, int32_t first_phone,
                 LabelLattice *out) {
  const int32_t n = raw.NumStates();
  auto phone_of = [&](const LatArc &arc, int32_t s) -> int32_t {
    if (phone_start == nullptr || s == raw.start || arc.ilabel <= 0 ||
        static_cast<size_t>(arc.ilabel) >= phone_start->size())
      return 0;
    return (*phone_start)[arc.ilabel];
  };
  std::vector<int32_t> new_id(n);
  int32_t next = 0;
  for (int32_t s = 0; s < n; ++s) {
    new_id[s] = next++;
    for (uint32_t j = raw.first[s]; j < raw.first[s + 1]; ++j)
      if (raw.arcs[j].olabel != 0 && phone_of(raw.arcs[j], s) != 0) ++next;
  }
  out->start = new_id[raw.start];
  out->first.assign(next + 1, 0);
  out->arcs.clear();
  out->finals.assign(next, CompactFinal());
  std::vector<LabelArc> extra;  // the arcs of the inserted states, in order
  for (int32_t s = 0; s < n; ++s) {
    const int32_t id = new_id[s];
    extra.clear();
    int32_t extra_id = id + 1;
    for (uint32_t j = raw.first[s]; j < raw.first[s + 1]; ++j) {
      const LatArc &arc = raw.arcs[j];
      const int32_t phone = phone_of(arc, s);
      if (phone == 0) {
        out->arcs.push_back(LabelArc{arc.olabel, arc.graph, arc.acoustic, arc.ilabel, new_id[arc.next]});
      } else if (arc.olabel == 0) {
        out->arcs.push_back(LabelArc{first_phone + phone, arc.graph, arc.acoustic, arc.ilabel, new_id[arc.next]});
      } else {
        out->arcs.push_back(LabelArc{arc.olabel, arc.graph, arc.acoustic, arc.ilabel, extra_id++});
        extra.push_back(LabelArc{first_phone + phone, 0.0, 0.0, 0, new_id[arc.next]});
      }
    }
    out->first[id + 1] = static_cast<uint32_t>(out->arcs.size());
    for (size_t k = 0; k < extra.size(); ++k) {
      out->arcs.push_back(extra[k]);
      out->first[id + 2 + k] = static_cast<uint32_t>(out->arcs.size());
    }
    if (raw.IsFinal(s)) out->finals[id] = CompactFinal{true, raw.final_graph[s], raw.final_acoustic[s], 0};
  }
}

// A topologically numbered compact lattice as a state-level label lattice, the way
// Kaldi writes a determinized Lattice: an arc with string t1..tn becomes a chain whose
// first arc has the label, the weight and t1, the others one transition-id each; a final
// weight with a string becomes a chain of epsilon arcs (the first with the weight) to a
// new final state.  Labels from first_phone on (phone marks) become epsilon.  Chain
// states are numbered right after their source state.
void ExpandCompact(const CompactLattice &in, int32_t first_phone, const StringTrie &strings, LabelLattice *out) {
  const int32_t n = in.NumStates();
  std::vector<int32_t> new_id(n);
  int32_t next = 0;
  for (int32_t s = 0; s < n; ++s) {
    new_id[s] = next++;
    for (const CompactArc &arc : in.arcs[s]) next += std::max(strings.Depth(arc.string) - 1, 0);
    if (in.finals[s].is_final) next += strings.Depth(in.finals[s].string);
  }
  out->start = new_id[in.start];
  out->first.assign(next + 1, 0);
  out->arcs.clear();
  out->finals.assign(next, CompactFinal());
  std::vector<LabelArc> chain;  // the arc of each chain state of this state, in order
  for (int32_t s = 0; s < n; ++s) {
    const int32_t id = new_id[s];
    chain.clear();
    int32_t free_id = id + 1;
    for (const CompactArc &arc : in.arcs[s]) {
      const std::vector<int32_t> seq = strings.Labels(arc.string);
      const int32_t label = arc.word >= first_phone ? 0 : arc.word;
      if (seq.size() <= 1) {
        out->arcs.push_back(LabelArc{label, arc.graph, arc.acoustic, seq.empty() ? 0 : seq[0], new_id[arc.next]});
        continue;
      }
      out->arcs.push_back(LabelArc{label, arc.graph, arc.acoustic, seq[0], free_id});
      for (size_t k = 1; k < seq.size(); ++k, ++free_id)
        chain.push_back(LabelArc{0, 0.0, 0.0, seq[k], k + 1 < seq.size() ? free_id + 1 : new_id[arc.next]});
    }
    const CompactFinal &f = in.finals[s];
    int32_t final_state = -1;
    if (f.is_final) {
      const std::vector<int32_t> seq = strings.Labels(f.string);
      if (seq.empty()) {
        out->finals[id] = CompactFinal{true, f.graph, f.acoustic, 0};
      } else {
        out->arcs.push_back(LabelArc{0, f.graph, f.acoustic, seq[0], free_id});
        for (size_t k = 1; k < seq.size(); ++k, ++free_id)
          chain.push_back(LabelArc{0, 0.0, 0.0, seq[k], free_id + 1});
        final_state = free_id;  // the last chain state: no arc
      }
    }
    out->first[id + 1] = static_cast<uint32_t>(out->arcs.size());
    for (size_t k = 0; k < chain.size(); ++k) {
      out->arcs.push_back(chain[k]);
      out->first[id + 2 + k] = static_cast<uint32_t>(out->arcs.size());
    }
    if (final_state >= 0) {
      out->first[final_state + 1] = static_cast<uint32_t>(out->arcs.size());
      out->finals[final_state] = CompactFinal{true, 0.0, 0.0, 0};
    }
  }
}

// One determinization pass; false when it grows past max_states.
bool DeterminizePass(const LabelLattice &in, double beam, const DeterminizeOptions &opts, StringTrie *strings,
                     CompactLattice *out, DeterminizeInfo *info) {
  CompactLattice det;
  Determinizer d(in, beam, opts.delta, opts.max_states, strings);
  try {
    d.Run(&det);
  } catch (const TooBig &) {
    info->det_states += d.NumStates();
    return false;
  }
  info->det_states += d.NumStates();
  info->closure_visits += d.Visits();
  PruneCompact(det, beam, out);
  return true;
}

// Replaces the trie's string ids of `lat` by ids into lat->strings (0: empty).
void MaterializeStrings(const StringTrie &trie, CompactLattice *lat) {
  std::unordered_map<int32_t, int32_t> index{{0, 0}};
  lat->strings.assign(1, std::vector<int32_t>());
  auto map = [&](int32_t id) {
    auto it = index.find(id);
    if (it != index.end()) return it->second;
    const int32_t k = static_cast<int32_t>(lat->strings.size());
    lat->strings.push_back(trie.Labels(id));
    index.emplace(id, k);
    return k;
  };
  for (auto &arcs : lat->arcs)
    for (CompactArc &arc : arcs) arc.string = map(arc.string);
  for (CompactFinal &f : lat->finals)
    if (f.is_final) f.string = map(f.string);
}

}  // namespace

bool DeterminizeLatticePruned(const RawLattice &in, const DeterminizeOptions &opts,
                              const std::vector<int32_t> *phone_start, CompactLattice *out,
                              DeterminizeInfo *info, std::string *err) {
  double beam = opts.beam;
  *info = DeterminizeInfo();
  RawLattice pruned;
  while (true) {
    double used;
    bool tightened = false;
    if (!PruneRaw(in, beam, opts.max_raw_arcs, &pruned, &used, &tightened, err)) return false;
    beam = used;
    info->beam_used = beam;
    info->beam_tightened = info->beam_tightened || tightened;
    info->raw_states = pruned.NumStates();
    info->raw_arcs = static_cast<int32_t>(pruned.arcs.size());
    *out = CompactLattice();
    if (pruned.start < 0) return true;
    StringTrie strings;
    LabelLattice labels;
    int32_t first_phone = 1;  // phone marks are numbered after the words
    for (const LatArc &arc : pruned.arcs) first_phone = std::max(first_phone, arc.olabel + 1);
    RawToLabels(pruned, phone_start, first_phone, &labels);
    bool ok = DeterminizePass(labels, beam, opts, &strings, out, info);
    if (ok && phone_start != nullptr) {
      info->phone_states = out->NumStates();
      if (out->start < 0) return true;
      ExpandCompact(*out, first_phone, strings, &labels);
      ok = DeterminizePass(labels, beam, opts, &strings, out, info);
    }
    if (!ok) {
      if (beam < 0.5) {
        *err = "determinization exceeds " + std::to_string(opts.max_states) + " states even at beam " +
               std::to_string(beam);
        return false;
      }
      beam = std::isinf(beam) ? 16.0 : beam * 0.75;
      ++info->retries;
      continue;
    }
    MaterializeStrings(strings, out);
    return true;
  }
}

}  // namespace kkd
