// Reading OpenFst binary graphs (see fst_graph.h).  File layout (little-endian):
// header = int32 magic 2125659606, string fst type, string arc type (each an int32
// length and the bytes), int32 version, int32 flags, uint64 properties, int64 start,
// int64 number of states, int64 number of arcs; then
//   const:  [padding to 16 bytes when aligned] states (GraphState records)
//           [padding] arcs (GraphArc records);
//   vector: per state a float final weight, an int64 arc count and the arcs.
#include "fst_graph.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <limits>

namespace kkd {

namespace {

constexpr int32_t kFstMagic = 2125659606;
constexpr int32_t kHasSymbols = 0x3;  // HAS_ISYMBOLS | HAS_OSYMBOLS
constexpr int32_t kIsAligned = 0x4;
constexpr size_t kFileAlign = 16;

class ByteReader {
 public:
  ByteReader(const unsigned char *data, size_t size, size_t pos) : data_(data), size_(size), pos_(pos) {}
  template <class T>
  bool Get(T *out) {
    if (pos_ + sizeof(T) > size_) return false;
    std::memcpy(out, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  bool GetString(std::string *out) {
    int32_t n;
    if (!Get(&n) || n < 0 || pos_ + static_cast<size_t>(n) > size_) return false;
    out->assign(reinterpret_cast<const char *>(data_ + pos_), n);
    pos_ += n;
    return true;
  }
  size_t Pos() const { return pos_; }

 private:
  const unsigned char *data_;
  size_t size_, pos_;
};

}  // namespace

Graph::~Graph() {
  if (map_base_ != nullptr) munmap(map_base_, map_size_);
}

Graph *Graph::Read(const std::string &path, std::string *err) {
  int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) {
    *err = path + ": cannot open graph";
    return nullptr;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_size < 16) {
    close(fd);
    *err = path + ": not an OpenFst graph (empty or unreadable)";
    return nullptr;
  }
  size_t size = static_cast<size_t>(st.st_size);
  void *base = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (base == MAP_FAILED) {
    *err = path + ": cannot map the graph file";
    return nullptr;
  }
  const unsigned char *data = static_cast<const unsigned char *>(base);
  ByteReader r(data, size, 0);
  int32_t magic = 0, version = 0, flags = 0;
  uint64_t props = 0;
  int64_t start = 0, nstates = 0, narcs = 0;
  std::string fst_type, arc_type;
  bool ok = r.Get(&magic) && magic == kFstMagic && r.GetString(&fst_type) && r.GetString(&arc_type) &&
            r.Get(&version) && r.Get(&flags) && r.Get(&props) && r.Get(&start) && r.Get(&nstates) &&
            r.Get(&narcs);
  Graph *g = new Graph();
  g->kind_ = fst_type;
  g->start_ = static_cast<int32_t>(start);
  g->num_states_ = nstates;
  g->num_arcs_ = narcs;
  if (!ok) {
    *err = path + ": not an OpenFst binary FST (bad magic number or header)";
  } else if (arc_type != "standard") {
    *err = path + ": arc type '" + arc_type + "' is not supported (expected 'standard')";
    ok = false;
  } else if (flags & kHasSymbols) {
    *err = path + ": graphs with attached symbol tables are not supported";
    ok = false;
  } else if (fst_type == "const") {
    // OpenFst: version 1 means aligned, as does the IS_ALIGNED flag
    ok = g->ReadConst(path, data, size, r.Pos(), version == 1 || (flags & kIsAligned), err);
    if (ok) {
      g->map_base_ = base;
      g->map_size_ = size;
      return g;
    }
  } else if (fst_type == "vector") {
    ok = g->ReadVector(path, data, size, r.Pos(), err);
  } else {
    *err = path + ": fst type '" + fst_type + "' is not supported (expected 'const' or 'vector')";
    ok = false;
  }
  munmap(base, size);
  if (!ok) {
    delete g;
    return nullptr;
  }
  return g;
}

bool Graph::ReadConst(const std::string &path, const unsigned char *data, size_t size, size_t pos,
                      bool aligned, std::string *err) {
  if (num_states_ < 0 || num_arcs_ < 0 || num_states_ > std::numeric_limits<int32_t>::max()) {
    *err = path + ": bad state or arc count in the ConstFst header";
    return false;
  }
  if (aligned) pos = (pos + kFileAlign - 1) / kFileAlign * kFileAlign;
  size_t states_bytes = sizeof(GraphState) * static_cast<size_t>(num_states_);
  state_bytes_ = data + pos;
  pos += states_bytes;
  if (aligned) pos = (pos + kFileAlign - 1) / kFileAlign * kFileAlign;
  arc_bytes_ = data + pos;
  pos += sizeof(GraphArc) * static_cast<size_t>(num_arcs_);
  if (pos > size) {
    *err = path + ": truncated ConstFst (file shorter than its header says)";
    return false;
  }
  for (int64_t s = 0; s < num_states_ && s < 1; ++s) {  // cheap sanity check of the first record
    GraphState st = State(static_cast<int32_t>(s));
    if (static_cast<int64_t>(st.pos) + st.narcs > num_arcs_) {
      *err = path + ": corrupt ConstFst state record";
      return false;
    }
  }
  return true;
}

bool Graph::ReadVector(const std::string &path, const unsigned char *data, size_t size, size_t pos,
                       std::string *err) {
  ByteReader r(data, size, pos);
  own_states_.clear();
  own_arcs_.clear();
  if (num_arcs_ > 0) own_arcs_.reserve(static_cast<size_t>(num_arcs_));
  if (num_states_ > 0) own_states_.reserve(static_cast<size_t>(num_states_));
  // num_states_ is -1 when the writer could not seek back to fill it in: read to the end
  for (int64_t s = 0; num_states_ < 0 ? r.Pos() < size : s < num_states_; ++s) {
    GraphState st{};
    int64_t n = 0;
    if (!r.Get(&st.final_cost) || !r.Get(&n) || n < 0) {
      *err = path + ": truncated VectorFst at state " + std::to_string(s);
      return false;
    }
    st.pos = static_cast<uint32_t>(own_arcs_.size());
    st.narcs = static_cast<uint32_t>(n);
    for (int64_t i = 0; i < n; ++i) {
      GraphArc a;
      if (!r.Get(&a)) {
        *err = path + ": truncated VectorFst at state " + std::to_string(s);
        return false;
      }
      if (a.ilabel == 0) ++st.niepsilons;
      if (a.olabel == 0) ++st.noepsilons;
      own_arcs_.push_back(a);
    }
    own_states_.push_back(st);
  }
  num_states_ = static_cast<int64_t>(own_states_.size());
  num_arcs_ = static_cast<int64_t>(own_arcs_.size());
  for (const GraphArc &a : own_arcs_) {
    if (a.nextstate < 0 || a.nextstate >= num_states_) {
      *err = path + ": arc to a nonexistent state " + std::to_string(a.nextstate);
      return false;
    }
  }
  state_bytes_ = reinterpret_cast<const unsigned char *>(own_states_.data());
  arc_bytes_ = reinterpret_cast<const unsigned char *>(own_arcs_.data());
  return true;
}

}  // namespace kkd
