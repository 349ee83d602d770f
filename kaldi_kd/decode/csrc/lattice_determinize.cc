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

// Transition-id strings by id (id 0 is the empty string).
class StringTable {
 public:
  StringTable() { Intern(std::vector<int32_t>()); }
  int32_t Intern(const std::vector<int32_t> &s) {
    auto it = ids_.find(s);
    if (it != ids_.end()) return it->second;
    int32_t id = static_cast<int32_t>(strings_.size());
    strings_.push_back(s);
    ids_.emplace(s, id);
    return id;
  }
  const std::vector<int32_t> &Get(int32_t id) const { return strings_[id]; }
  // a + b, interned
  int32_t Concat(int32_t a, int32_t b) {
    if (b == 0) return a;
    if (a == 0) return b;
    std::vector<int32_t> s = strings_[a];
    s.insert(s.end(), strings_[b].begin(), strings_[b].end());
    return Intern(s);
  }
  std::vector<std::vector<int32_t>> Release() { return std::move(strings_); }

 private:
  std::vector<std::vector<int32_t>> strings_;
  std::unordered_map<std::vector<int32_t>, int32_t, VectorHash<int32_t>> ids_;
};

// Kaldi's order on (graph, acoustic, string) weights: lower total cost first, then
// lower graph cost, then the shorter string, then the lexicographically smaller.
// Negative: a better than b; 0: equal.
int CompareWeights(double ga, double aa, const std::vector<int32_t> &sa, double gb, double ab,
                   const std::vector<int32_t> &sb) {
  const double ta = ga + aa, tb = gb + ab;
  if (ta != tb) return ta < tb ? -1 : 1;
  if (ga != gb) return ga < gb ? -1 : 1;
  if (sa.size() != sb.size()) return sa.size() < sb.size() ? -1 : 1;
  for (size_t i = 0; i < sa.size(); ++i)
    if (sa[i] != sb[i]) return sa[i] < sb[i] ? -1 : 1;
  return 0;
}

// An acyclic lattice with labels and (graph, acoustic, string) weights on arcs and
// finals; states numbered topologically (every arc goes to a higher state), start 0.
struct LabelArc {
  int32_t label;  // 0: epsilon
  double g, a;
  int32_t str;
  int32_t next;
};

struct LabelLattice {
  int32_t start = -1;
  std::vector<uint32_t> first{0};
  std::vector<LabelArc> arcs;
  std::vector<CompactFinal> finals;
  int32_t NumStates() const { return static_cast<int32_t>(finals.size()); }
};

struct Elem {  // an input state of a determinized state, with its residual weight
  int32_t state;
  double g, a;
  int32_t str;
};

struct ClosureElem {  // the same before normalisation (string not interned)
  int32_t state;
  double g, a;
  std::vector<int32_t> str;
};

struct Source {  // a closure source: labelled-arc destination, residual str + arc_str
  int32_t state;
  double g, a;
  int32_t str, arc_str;
};

struct TooBig {};

class Determinizer {
 public:
  Determinizer(const LabelLattice &lat, double beam, double delta, int32_t max_states, StringTable *strings);
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
    int32_t str, arc_str;
  };

  void Closure(const std::vector<Source> &sources, double fwd, std::vector<ClosureElem> *out);
  std::vector<int32_t> PathString(int32_t s, const std::vector<Source> &sources) const;
  // Normalises `elems` reached with forward cost `fwd`; returns the state and sets
  // the divisor (*g, *a, *prefix).
  int32_t StateFor(std::vector<ClosureElem> *elems, double fwd, double *g, double *a,
                   std::vector<int32_t> *prefix);
  void Expand(int32_t sid);
  std::vector<int32_t> Joined(int32_t a, int32_t b) const {
    std::vector<int32_t> s = strings_.Get(a);
    const std::vector<int32_t> &t = strings_.Get(b);
    s.insert(s.end(), t.begin(), t.end());
    return s;
  }

  const LabelLattice &lat_;
  const double delta_;
  const int32_t max_states_;
  StringTable &strings_;
  std::vector<uint32_t> word_first_, eps_first_;
  std::vector<LabelArc> word_arcs_, eps_arcs_;
  std::vector<char> frontier_;
  std::vector<double> beta_;
  double cutoff_;
  std::vector<DetState> states_;
  std::unordered_map<std::vector<int64_t>, int32_t, VectorHash<int64_t>> ids_;
  std::priority_queue<std::pair<double, int32_t>, std::vector<std::pair<double, int32_t>>,
                      std::greater<std::pair<double, int32_t>>>
      heap_;
  CompactLattice *out_ = nullptr;
  // closure scratch, indexed by input state
  std::vector<double> cg_, ca_;
  std::vector<int32_t> cprev_, cstr_, csrc_, cstamp_;
  int32_t stamp_ = 0;
  int64_t visits_ = 0;
};

Determinizer::Determinizer(const LabelLattice &lat, double beam, double delta, int32_t max_states,
                           StringTable *strings)
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
  cstr_.assign(n, 0);
  csrc_.assign(n, -1);
  cstamp_.assign(n, 0);
}

std::vector<int32_t> Determinizer::PathString(int32_t s, const std::vector<Source> &sources) const {
  std::vector<int32_t> arc_strings;  // backwards
  while (cprev_[s] >= 0) {
    if (cstr_[s] != 0) arc_strings.push_back(cstr_[s]);
    s = cprev_[s];
  }
  const Source &src = sources[csrc_[s]];
  std::vector<int32_t> str = Joined(src.str, src.arc_str);
  for (auto it = arc_strings.rbegin(); it != arc_strings.rend(); ++it) {
    const std::vector<int32_t> &t = strings_.Get(*it);
    str.insert(str.end(), t.begin(), t.end());
  }
  return str;
}

void Determinizer::Closure(const std::vector<Source> &sources, double fwd,
                           std::vector<ClosureElem> *out) {
  out->clear();
  const double limit = cutoff_ - fwd;
  ++stamp_;
  std::priority_queue<int32_t, std::vector<int32_t>, std::greater<int32_t>> queue;
  for (size_t i = 0; i < sources.size(); ++i) {
    const Source &src = sources[i];
    if (cstamp_[src.state] == stamp_) continue;
    if (src.g + src.a + beta_[src.state] <= limit) {
      cstamp_[src.state] = stamp_;
      cg_[src.state] = src.g;
      ca_[src.state] = src.a;
      cprev_[src.state] = -1;
      cstr_[src.state] = 0;
      csrc_[src.state] = static_cast<int32_t>(i);
      queue.push(src.state);
    }
  }
  // states are numbered topologically: popping the smallest keeps a topological order
  while (!queue.empty()) {
    const int32_t s = queue.top();
    queue.pop();
    const double g = cg_[s], a = ca_[s];
    ++visits_;
    if (frontier_[s]) out->push_back(ClosureElem{s, g, a, PathString(s, sources)});
    for (uint32_t i = eps_first_[s]; i < eps_first_[s + 1]; ++i) {
      const LabelArc &arc = eps_arcs_[i];
      const int32_t e = arc.next;
      const double ng = g + arc.g, na = a + arc.a;
      if (ng + na + beta_[e] > limit) continue;
      if (cstamp_[e] != stamp_) {
        cstamp_[e] = stamp_;
        cg_[e] = ng;
        ca_[e] = na;
        cprev_[e] = s;
        cstr_[e] = arc.str;
        queue.push(e);
      } else {
        const double cur = cg_[e] + ca_[e];
        if (ng + na < cur || (ng + na == cur && ng < cg_[e])) {
          cg_[e] = ng;
          ca_[e] = na;
          cprev_[e] = s;
          cstr_[e] = arc.str;
        }
      }
    }
  }
}

int32_t Determinizer::StateFor(std::vector<ClosureElem> *elems, double fwd, double *g_out,
                               double *a_out, std::vector<int32_t> *prefix) {
  std::vector<ClosureElem> &v = *elems;  // sorted by input state (closure pop order)
  size_t best = 0;
  for (size_t i = 1; i < v.size(); ++i)
    if (CompareWeights(v[i].g, v[i].a, v[i].str, v[best].g, v[best].a, v[best].str) < 0) best = i;
  const double gb = v[best].g, ab = v[best].a;
  size_t k = v[0].str.size();
  for (size_t i = 1; i < v.size() && k > 0; ++i) {
    const std::vector<int32_t> &t = v[i].str;
    size_t m = std::min(k, t.size()), j = 0;
    while (j < m && t[j] == v[0].str[j]) ++j;
    k = j;
  }
  prefix->assign(v[0].str.begin(), v[0].str.begin() + k);
  std::vector<Elem> norm;
  norm.reserve(v.size());
  std::vector<int64_t> key;
  key.reserve(4 * v.size());
  double h = kInf;
  for (ClosureElem &e : v) {
    int32_t sid = 0;
    if (e.str.size() > k) {
      if (k > 0) e.str.erase(e.str.begin(), e.str.begin() + k);
      sid = strings_.Intern(e.str);
    }
    const double g = e.g - gb, a = e.a - ab;
    norm.push_back(Elem{e.state, g, a, sid});
    key.push_back(e.state);
    key.push_back(static_cast<int64_t>(std::nearbyint(g / delta_)));
    key.push_back(static_cast<int64_t>(std::nearbyint(a / delta_)));
    key.push_back(sid);
    h = std::min(h, g + a + beta_[e.state]);
  }
  *g_out = gb;
  *a_out = ab;
  fwd = fwd + gb + ab;
  auto it = ids_.find(key);
  if (it == ids_.end()) {
    const int32_t id = out_->AddState();
    if (id >= max_states_) throw TooBig();
    ids_.emplace(std::move(key), id);
    states_.push_back(DetState{std::move(norm), fwd, h, false});
    heap_.emplace(fwd + h, id);
    return id;
  }
  const int32_t id = it->second;
  if (fwd < states_[id].fwd) {
    states_[id].fwd = fwd;
    heap_.emplace(fwd + states_[id].h, id);
  }
  return id;
}

void Determinizer::Expand(int32_t sid) {
  const double fwd = states_[sid].fwd;
  const std::vector<Elem> elems = states_[sid].elems;  // states_ grows below
  bool has_final = false;
  double fin_g = 0.0, fin_a = 0.0;
  std::vector<int32_t> fin_str;
  std::vector<Candidate> cands;
  for (const Elem &e : elems) {
    const CompactFinal &f = lat_.finals[e.state];
    if (f.is_final) {
      const double g = e.g + f.graph, a = e.a + f.acoustic;
      std::vector<int32_t> str = Joined(e.str, f.string);
      if (!has_final || CompareWeights(g, a, str, fin_g, fin_a, fin_str) < 0) {
        has_final = true;
        fin_g = g;
        fin_a = a;
        fin_str.swap(str);
      }
    }
    for (uint32_t i = word_first_[e.state]; i < word_first_[e.state + 1]; ++i) {
      const LabelArc &arc = word_arcs_[i];
      if (fwd + e.g + arc.g + e.a + arc.a + beta_[arc.next] > cutoff_) continue;
      cands.push_back(Candidate{arc.label, arc.next, e.g + arc.g, e.a + arc.a, e.str, arc.str});
    }
  }
  if (has_final && fwd + fin_g + fin_a <= cutoff_) {
    CompactFinal &f = out_->finals[sid];
    f.is_final = true;
    f.graph = fin_g;
    f.acoustic = fin_a;
    f.string = strings_.Intern(fin_str);
  }
  std::stable_sort(cands.begin(), cands.end(), [](const Candidate &x, const Candidate &y) {
    return x.label != y.label ? x.label < y.label : x.dest < y.dest;
  });
  std::vector<Source> sources;
  std::vector<ClosureElem> closure;
  std::vector<int32_t> prefix;
  size_t i = 0;
  while (i < cands.size()) {
    const int32_t label = cands[i].label;
    sources.clear();
    while (i < cands.size() && cands[i].label == label) {
      // the best candidate per destination (the first of equals)
      size_t best = i;
      const int32_t dest = cands[i].dest;
      for (++i; i < cands.size() && cands[i].label == label && cands[i].dest == dest; ++i) {
        const Candidate &c = cands[i], &b = cands[best];
        const double tc = c.g + c.a, tb = b.g + b.a;
        bool better = tc < tb || (tc == tb && c.g < b.g);
        if (tc == tb && c.g == b.g)
          better = CompareWeights(c.g, c.a, Joined(c.str, c.arc_str), b.g, b.a, Joined(b.str, b.arc_str)) < 0;
        if (better) best = i;
      }
      const Candidate &b = cands[best];
      sources.push_back(Source{b.dest, b.g, b.a, b.str, b.arc_str});
    }
    Closure(sources, fwd, &closure);
    if (closure.empty()) continue;
    double g, a;
    const int32_t next = StateFor(&closure, fwd, &g, &a, &prefix);
    out_->arcs[sid].push_back(CompactArc{label, g, a, strings_.Intern(prefix), next});
  }
}

void Determinizer::Run(CompactLattice *out) {
  out_ = out;
  std::vector<Source> start_sources{Source{lat_.start, 0.0, 0.0, 0, 0}};
  std::vector<ClosureElem> start_elems;
  Closure(start_sources, 0.0, &start_elems);
  if (start_elems.empty()) return;
  double g, a;
  std::vector<int32_t> prefix;
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
  if (g != 0.0 || a != 0.0 || !prefix.empty()) {
    // the start set's divisor belongs on every path: a new start state carries it
    const int32_t old = out->start, fresh = out->AddState();
    out->start = fresh;
    const int32_t p = strings_.Intern(prefix);
    for (size_t j = 0; j < out->arcs[old].size(); ++j) {
      const CompactArc arc = out->arcs[old][j];
      out->arcs[fresh].push_back(
          CompactArc{arc.word, arc.graph + g, arc.acoustic + a, strings_.Concat(p, arc.string), arc.next});
    }
    const CompactFinal f = out->finals[old];
    if (f.is_final) out->finals[fresh] = CompactFinal{true, f.graph + g, f.acoustic + a, strings_.Concat(p, f.string)};
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

// The pruned raw lattice as a label lattice: one-transition-id strings; the label of
// an arc is its word, or with a phone table, its (word, phone start) pair numbered
// after the words (*pair_word maps those labels back to words).
void RawToLabels(const RawLattice &raw, const std::vector<int32_t> *phone_start, StringTable *strings,
                 LabelLattice *out, std::vector<int32_t> *pair_word) {
  const int32_t n = raw.NumStates();
  out->start = raw.start;
  out->first.assign(raw.first.begin(), raw.first.end());
  out->arcs.clear();
  out->arcs.reserve(raw.arcs.size());
  out->finals.assign(n, CompactFinal());
  int32_t max_word = 0;
  for (const LatArc &arc : raw.arcs) max_word = std::max(max_word, arc.olabel);
  std::unordered_map<int64_t, int32_t> pair_label;
  pair_word->assign(max_word + 1, 0);
  for (int32_t w = 0; w <= max_word; ++w) (*pair_word)[w] = w;
  std::vector<int32_t> tid_string;
  for (const LatArc &arc : raw.arcs) {
    int32_t str = 0;
    if (arc.ilabel > 0) {
      if (static_cast<size_t>(arc.ilabel) >= tid_string.size()) tid_string.resize(arc.ilabel + 1, -1);
      int32_t &cached = tid_string[arc.ilabel];
      if (cached < 0) cached = strings->Intern(std::vector<int32_t>{arc.ilabel});
      str = cached;
    }
    int32_t label = arc.olabel;
    const int32_t phone = (phone_start != nullptr && arc.ilabel > 0 &&
                           static_cast<size_t>(arc.ilabel) < phone_start->size())
                              ? (*phone_start)[arc.ilabel]
                              : 0;
    if (phone != 0) {
      const int64_t key = (static_cast<int64_t>(arc.olabel) << 32) | static_cast<uint32_t>(phone);
      auto it = pair_label.find(key);
      if (it == pair_label.end()) {
        it = pair_label.emplace(key, static_cast<int32_t>(pair_word->size())).first;
        pair_word->push_back(arc.olabel);
      }
      label = it->second;
    }
    out->arcs.push_back(LabelArc{label, arc.graph, arc.acoustic, str, arc.next});
  }
  for (int32_t s = 0; s < n; ++s)
    if (raw.IsFinal(s)) out->finals[s] = CompactFinal{true, raw.final_graph[s], raw.final_acoustic[s], 0};
}

// A topologically numbered compact lattice as a label lattice, labels mapped.
void CompactToLabels(const CompactLattice &in, const std::vector<int32_t> &label_word, LabelLattice *out) {
  const int32_t n = in.NumStates();
  out->start = in.start;
  out->first.assign(n + 1, 0);
  out->arcs.clear();
  for (int32_t s = 0; s < n; ++s) {
    for (const CompactArc &arc : in.arcs[s])
      out->arcs.push_back(LabelArc{label_word[arc.word], arc.graph, arc.acoustic, arc.string, arc.next});
    out->first[s + 1] = static_cast<uint32_t>(out->arcs.size());
  }
  out->finals = in.finals;
}

// One determinization pass; false when it grows past max_states.
bool DeterminizePass(const LabelLattice &in, double beam, const DeterminizeOptions &opts, StringTable *strings,
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
    StringTable strings;
    LabelLattice labels;
    std::vector<int32_t> label_word;
    RawToLabels(pruned, phone_start, &strings, &labels, &label_word);
    bool ok = DeterminizePass(labels, beam, opts, &strings, out, info);
    if (ok && phone_start != nullptr) {
      info->phone_states = out->NumStates();
      if (out->start < 0) return true;
      CompactToLabels(*out, label_word, &labels);
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
    out->strings = strings.Release();
    return true;
  }
}

}  // namespace kkd
