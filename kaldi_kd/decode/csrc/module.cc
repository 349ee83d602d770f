// Python module kaldi_kd.decode._latgen: the compiled decoder and determinizer.
//
//   Graph(path)                       an HCLG read once (a ConstFst is memory-mapped)
//   Decoder(graph, tid2pdf, ...)      token-passing lattice search with its options
//   Decoder.decode(loglikes, scale)   -> (RawLattice, info dict); releases the GIL
//   RawLattice.determinize(...)       -> (start, arcs, finals, info dict)
//   RawLattice.to_lists()             -> (start, arcs, finals) of a raw lattice
//   raw_lattice(start, arcs, finals)  -> RawLattice from Python lists (tests)
// Lists follow kaldi_kd.decode.lattice: raw arcs per state (ilabel, olabel, graph,
// acoustic, next), finals {state: (graph, acoustic)}; compact arcs per state (word,
// graph, acoustic, transition-ids tuple, next), finals {state: (graph, acoustic, tids)}.
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "fst_graph.h"
#include "lattice_decoder.h"
#include "lattice_determinize.h"

namespace {

// ---------------------------------------------------------------------------- Graph

struct PyGraph {
  PyObject_HEAD
  kkd::Graph *graph;
};

void Graph_dealloc(PyGraph *self) {
  delete self->graph;
  Py_TYPE(self)->tp_free(reinterpret_cast<PyObject *>(self));
}

int Graph_init(PyGraph *self, PyObject *args, PyObject *kwds) {
  static const char *kwlist[] = {"path", nullptr};
  PyObject *path_bytes = nullptr;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "O&", const_cast<char **>(kwlist), PyUnicode_FSConverter,
                                   &path_bytes))
    return -1;
  std::string path(PyBytes_AS_STRING(path_bytes));
  Py_DECREF(path_bytes);
  std::string err;
  kkd::Graph *g;
  Py_BEGIN_ALLOW_THREADS
  g = kkd::Graph::Read(path, &err);
  Py_END_ALLOW_THREADS
  if (g == nullptr) {
    PyErr_SetString(PyExc_ValueError, err.c_str());
    return -1;
  }
  delete self->graph;
  self->graph = g;
  return 0;
}

bool GraphReady(PyGraph *self) {
  if (self->graph == nullptr) {
    PyErr_SetString(PyExc_ValueError, "Graph not initialised");
    return false;
  }
  return true;
}

PyObject *Graph_num_states(PyGraph *self, void *) {
  return GraphReady(self) ? PyLong_FromLongLong(self->graph->NumStates()) : nullptr;
}
PyObject *Graph_num_arcs(PyGraph *self, void *) {
  return GraphReady(self) ? PyLong_FromLongLong(self->graph->NumArcs()) : nullptr;
}
PyObject *Graph_start(PyGraph *self, void *) {
  return GraphReady(self) ? PyLong_FromLong(self->graph->Start()) : nullptr;
}
PyObject *Graph_kind(PyGraph *self, void *) {
  return GraphReady(self) ? PyUnicode_FromString(self->graph->Kind().c_str()) : nullptr;
}
PyObject *Graph_mapped(PyGraph *self, void *) {
  return GraphReady(self) ? PyBool_FromLong(self->graph->Mapped()) : nullptr;
}

PyGetSetDef Graph_getset[] = {
    {"num_states", reinterpret_cast<getter>(Graph_num_states), nullptr, "number of states", nullptr},
    {"num_arcs", reinterpret_cast<getter>(Graph_num_arcs), nullptr, "number of arcs", nullptr},
    {"start", reinterpret_cast<getter>(Graph_start), nullptr, "start state", nullptr},
    {"kind", reinterpret_cast<getter>(Graph_kind), nullptr, "OpenFst type: 'const' or 'vector'", nullptr},
    {"mapped", reinterpret_cast<getter>(Graph_mapped), nullptr, "True when memory-mapped", nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr}};

PyTypeObject GraphType = {PyVarObject_HEAD_INIT(nullptr, 0)};

// ---------------------------------------------------------------------------- RawLattice

struct PyRawLattice {
  PyObject_HEAD
  kkd::RawLattice *lat;
};

PyTypeObject RawLatticeType = {PyVarObject_HEAD_INIT(nullptr, 0)};

void RawLattice_dealloc(PyRawLattice *self) {
  delete self->lat;
  Py_TYPE(self)->tp_free(reinterpret_cast<PyObject *>(self));
}

PyRawLattice *NewRawLattice() {
  PyRawLattice *obj = PyObject_New(PyRawLattice, &RawLatticeType);
  if (obj != nullptr) obj->lat = new kkd::RawLattice();
  return obj;
}

PyObject *RawLattice_num_states(PyRawLattice *self, void *) {
  return PyLong_FromLong(self->lat->NumStates());
}
PyObject *RawLattice_num_arcs(PyRawLattice *self, void *) {
  return PyLong_FromSize_t(self->lat->arcs.size());
}

PyObject *RawLattice_to_lists(PyRawLattice *self, PyObject *) {
  const kkd::RawLattice &lat = *self->lat;
  const int32_t n = lat.NumStates();
  PyObject *arcs = PyList_New(n);
  PyObject *finals = PyDict_New();
  if (arcs == nullptr || finals == nullptr) goto fail;
  for (int32_t s = 0; s < n; ++s) {
    PyObject *list = PyList_New(lat.first[s + 1] - lat.first[s]);
    if (list == nullptr) goto fail;
    PyList_SET_ITEM(arcs, s, list);
    for (uint32_t j = lat.first[s]; j < lat.first[s + 1]; ++j) {
      const kkd::LatArc &a = lat.arcs[j];
      PyObject *t = Py_BuildValue("(iiddi)", a.ilabel, a.olabel, static_cast<double>(a.graph),
                                  static_cast<double>(a.acoustic), a.next);
      if (t == nullptr) goto fail;
      PyList_SET_ITEM(list, j - lat.first[s], t);
    }
    if (lat.IsFinal(s)) {
      PyObject *key = PyLong_FromLong(s);
      PyObject *w = Py_BuildValue("(dd)", static_cast<double>(lat.final_graph[s]),
                                  static_cast<double>(lat.final_acoustic[s]));
      int rc = (key && w) ? PyDict_SetItem(finals, key, w) : -1;
      Py_XDECREF(key);
      Py_XDECREF(w);
      if (rc < 0) goto fail;
    }
  }
  return Py_BuildValue("(iNN)", lat.start, arcs, finals);
fail:
  Py_XDECREF(arcs);
  Py_XDECREF(finals);
  return nullptr;
}

// The compact lattice as Python lists; costs multiplied by (graph_scale, acoustic_scale).
PyObject *CompactToPython(const kkd::CompactLattice &clat, double graph_scale, double acoustic_scale) {
  const int32_t n = clat.NumStates();
  std::vector<PyObject *> tuples(clat.strings.size(), nullptr);
  PyObject *arcs = PyList_New(n), *finals = PyDict_New(), *result = nullptr;
  auto tids = [&](int32_t id) -> PyObject * {
    if (tuples[id] == nullptr) {
      const std::vector<int32_t> &s = clat.strings[id];
      PyObject *t = PyTuple_New(static_cast<Py_ssize_t>(s.size()));
      if (t == nullptr) return nullptr;
      for (size_t i = 0; i < s.size(); ++i) {
        PyObject *x = PyLong_FromLong(s[i]);
        if (x == nullptr) {
          Py_DECREF(t);
          return nullptr;
        }
        PyTuple_SET_ITEM(t, i, x);
      }
      tuples[id] = t;
    }
    return tuples[id];
  };
  if (arcs == nullptr || finals == nullptr) goto done;
  for (int32_t s = 0; s < n; ++s) {
    const std::vector<kkd::CompactArc> &out = clat.arcs[s];
    PyObject *list = PyList_New(static_cast<Py_ssize_t>(out.size()));
    if (list == nullptr) goto done;
    PyList_SET_ITEM(arcs, s, list);
    for (size_t j = 0; j < out.size(); ++j) {
      const kkd::CompactArc &a = out[j];
      PyObject *t = tids(a.string);
      if (t == nullptr) goto done;
      // float32 rounding, as Kaldi stores lattice costs
      PyObject *arc = Py_BuildValue("(iddOi)", a.word, static_cast<double>(static_cast<float>(a.graph * graph_scale)),
                                    static_cast<double>(static_cast<float>(a.acoustic * acoustic_scale)), t, a.next);
      if (arc == nullptr) goto done;
      PyList_SET_ITEM(list, j, arc);
    }
    const kkd::CompactFinal &f = clat.finals[s];
    if (f.is_final) {
      PyObject *t = tids(f.string);
      if (t == nullptr) goto done;
      PyObject *key = PyLong_FromLong(s);
      PyObject *w = Py_BuildValue("(ddO)", static_cast<double>(static_cast<float>(f.graph * graph_scale)),
                                  static_cast<double>(static_cast<float>(f.acoustic * acoustic_scale)), t);
      int rc = (key && w) ? PyDict_SetItem(finals, key, w) : -1;
      Py_XDECREF(key);
      Py_XDECREF(w);
      if (rc < 0) goto done;
    }
  }
  result = Py_BuildValue("(iOO)", clat.start, arcs, finals);
done:
  for (PyObject *t : tuples) Py_XDECREF(t);
  Py_XDECREF(arcs);
  Py_XDECREF(finals);
  return result;
}

// A 1-D int32 buffer as a vector (nullptr and no error for None).
bool Int32Vector(PyObject *obj, const char *what, std::vector<int32_t> *out) {
  Py_buffer view;
  if (PyObject_GetBuffer(obj, &view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return false;
  const char *f = view.format ? view.format : "B";
  if (*f == '<' || *f == '=' || *f == '@') ++f;
  if (view.ndim != 1 || view.itemsize != 4 || f[0] != 'i' || f[1] != '\0') {
    PyBuffer_Release(&view);
    PyErr_Format(PyExc_ValueError, "%s must be a 1-D int32 array", what);
    return false;
  }
  out->assign(static_cast<const int32_t *>(view.buf), static_cast<const int32_t *>(view.buf) + view.shape[0]);
  PyBuffer_Release(&view);
  return true;
}

PyObject *RawLattice_determinize(PyRawLattice *self, PyObject *args, PyObject *kwds) {
  static const char *kwlist[] = {"beam", "delta", "max_states", "max_raw_arcs", "graph_scale",
                                 "acoustic_scale", "phone_start", nullptr};
  kkd::DeterminizeOptions opts;
  double graph_scale = 1.0, acoustic_scale = 1.0;
  long long max_raw_arcs = opts.max_raw_arcs;
  PyObject *phone_obj = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "d|diLddO", const_cast<char **>(kwlist), &opts.beam,
                                   &opts.delta, &opts.max_states, &max_raw_arcs, &graph_scale,
                                   &acoustic_scale, &phone_obj))
    return nullptr;
  opts.max_raw_arcs = max_raw_arcs;
  if (!(opts.delta > 0.0) || opts.max_states <= 0) {
    PyErr_SetString(PyExc_ValueError, "delta and max_states must be positive");
    return nullptr;
  }
  std::vector<int32_t> phone_start;
  if (phone_obj != Py_None && !Int32Vector(phone_obj, "phone_start", &phone_start)) return nullptr;
  kkd::CompactLattice clat;
  kkd::DeterminizeInfo info;
  std::string err;
  bool ok;
  Py_BEGIN_ALLOW_THREADS
  ok = kkd::DeterminizeLatticePruned(*self->lat, opts, phone_obj != Py_None ? &phone_start : nullptr, &clat,
                                     &info, &err);
  Py_END_ALLOW_THREADS
  if (!ok) {
    PyErr_SetString(PyExc_ValueError, err.c_str());
    return nullptr;
  }
  PyObject *lists = CompactToPython(clat, graph_scale, acoustic_scale);
  if (lists == nullptr) return nullptr;
  PyObject *d = Py_BuildValue("{s:d,s:i,s:i,s:i,s:i,s:L,s:i,s:O}", "beam_used", info.beam_used, "raw_states",
                              info.raw_states, "raw_arcs", info.raw_arcs, "phone_states", info.phone_states,
                              "det_states", info.det_states, "closure_visits",
                              static_cast<long long>(info.closure_visits), "retries", info.retries,
                              "beam_tightened", info.beam_tightened ? Py_True : Py_False);
  if (d == nullptr) {
    Py_DECREF(lists);
    return nullptr;
  }
  PyObject *start = PyTuple_GET_ITEM(lists, 0), *arcs = PyTuple_GET_ITEM(lists, 1),
           *finals = PyTuple_GET_ITEM(lists, 2);
  PyObject *res = Py_BuildValue("(OOON)", start, arcs, finals, d);
  Py_DECREF(lists);
  return res;
}

PyGetSetDef RawLattice_getset[] = {
    {"num_states", reinterpret_cast<getter>(RawLattice_num_states), nullptr, "number of states", nullptr},
    {"num_arcs", reinterpret_cast<getter>(RawLattice_num_arcs), nullptr, "number of arcs", nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr}};

PyMethodDef RawLattice_methods[] = {
    {"to_lists", reinterpret_cast<PyCFunction>(RawLattice_to_lists), METH_NOARGS,
     "(start, arcs, finals) with arcs[s] = [(ilabel, olabel, graph, acoustic, next)], "
     "finals = {s: (graph, acoustic)}"},
    {"determinize", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(RawLattice_determinize)),
     METH_VARARGS | METH_KEYWORDS,
     "determinize(beam, delta=1/1024, max_states=200000, max_raw_arcs=150000, graph_scale=1.0, "
     "acoustic_scale=1.0, phone_start=None) -> (start, arcs, finals, info): the word-level lattice "
     "with arcs[s] = [(word, graph, acoustic, tids, next)], finals = {s: (graph, acoustic, tids)}, "
     "costs multiplied by the scales on output; phone_start (int32, indexed by transition-id: "
     "the phone a transition-id starts, else 0) selects the two-pass phone/word determinization"},
    {nullptr, nullptr, 0, nullptr}};

// raw_lattice(start, arcs, finals) from Python lists (any state numbering, acyclic)
PyObject *RawLatticeFromLists(PyObject *, PyObject *args) {
  int start;
  PyObject *arcs, *finals;
  if (!PyArg_ParseTuple(args, "iO!O!", &start, &PyList_Type, &arcs, &PyDict_Type, &finals)) return nullptr;
  PyRawLattice *obj = NewRawLattice();
  if (obj == nullptr) return nullptr;
  kkd::RawLattice &lat = *obj->lat;
  lat.Clear();
  const Py_ssize_t n = PyList_GET_SIZE(arcs);
  lat.start = start;
  lat.final_graph.assign(n, std::numeric_limits<float>::infinity());
  lat.final_acoustic.assign(n, 0.0f);
  lat.first.assign(n + 1, 0);
  for (Py_ssize_t s = 0; s < n; ++s) {
    PyObject *list = PySequence_Fast(PyList_GET_ITEM(arcs, s), "arcs[s] must be a sequence");
    if (list == nullptr) goto fail;
    for (Py_ssize_t j = 0; j < PySequence_Fast_GET_SIZE(list); ++j) {
      kkd::LatArc a;
      double g, ac;
      if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(list, j), "iiddi", &a.ilabel, &a.olabel, &g, &ac, &a.next)) {
        Py_DECREF(list);
        goto fail;
      }
      if (a.next < 0 || a.next >= n) {
        Py_DECREF(list);
        PyErr_SetString(PyExc_ValueError, "arc to a nonexistent state");
        goto fail;
      }
      a.graph = static_cast<float>(g);
      a.acoustic = static_cast<float>(ac);
      lat.arcs.push_back(a);
    }
    Py_DECREF(list);
    lat.first[s + 1] = static_cast<uint32_t>(lat.arcs.size());
  }
  {
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (PyDict_Next(finals, &pos, &key, &value)) {
      long s = PyLong_AsLong(key);
      double g, ac;
      if ((s == -1 && PyErr_Occurred()) || !PyArg_ParseTuple(value, "dd", &g, &ac)) goto fail;
      if (s < 0 || s >= n) {
        PyErr_SetString(PyExc_ValueError, "final weight of a nonexistent state");
        goto fail;
      }
      lat.final_graph[s] = static_cast<float>(g);
      lat.final_acoustic[s] = static_cast<float>(ac);
    }
  }
  return reinterpret_cast<PyObject *>(obj);
fail:
  Py_DECREF(obj);
  return nullptr;
}

// ---------------------------------------------------------------------------- Decoder

struct PyDecoder {
  PyObject_HEAD
  PyGraph *graph;
  kkd::LatticeDecoder *decoder;
  std::vector<int32_t> *tid2pdf;
  int32_t max_pdf;
  bool busy;
};

PyTypeObject DecoderType = {PyVarObject_HEAD_INIT(nullptr, 0)};

void Decoder_dealloc(PyDecoder *self) {
  delete self->decoder;
  delete self->tid2pdf;
  Py_XDECREF(self->graph);
  Py_TYPE(self)->tp_free(reinterpret_cast<PyObject *>(self));
}

bool FormatIs(const Py_buffer &view, char code) {
  const char *f = view.format ? view.format : "B";
  if (*f == '<' || *f == '=' || *f == '@') ++f;
  return f[0] == code && f[1] == '\0';
}

int Decoder_init(PyDecoder *self, PyObject *args, PyObject *kwds) {
  static const char *kwlist[] = {"graph",        "tid2pdf",       "beam",       "lattice_beam",
                                 "max_active",   "min_active",    "prune_interval", "beam_delta",
                                 "prune_scale",  nullptr};
  PyObject *graph, *tid2pdf;
  kkd::DecoderOptions opts;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!O|ffiiiff", const_cast<char **>(kwlist), &GraphType, &graph,
                                   &tid2pdf, &opts.beam, &opts.lattice_beam, &opts.max_active,
                                   &opts.min_active, &opts.prune_interval, &opts.beam_delta,
                                   &opts.prune_scale))
    return -1;
  if (!GraphReady(reinterpret_cast<PyGraph *>(graph))) return -1;
  if (!(opts.beam > 0) || !(opts.lattice_beam > 0) || opts.max_active <= 1 || opts.min_active < 0 ||
      opts.min_active > opts.max_active || opts.prune_interval <= 0 || !(opts.beam_delta >= 0)) {
    PyErr_Format(PyExc_ValueError,
                 "bad decoder options (beam %g, lattice_beam %g, max_active %d, min_active %d, "
                 "prune_interval %d, beam_delta %g): need beam > 0, lattice_beam > 0, max_active > 1, "
                 "0 <= min_active <= max_active, prune_interval > 0, beam_delta >= 0",
                 opts.beam, opts.lattice_beam, opts.max_active, opts.min_active, opts.prune_interval,
                 opts.beam_delta);
    return -1;
  }
  Py_buffer view;
  if (PyObject_GetBuffer(tid2pdf, &view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return -1;
  if (view.ndim != 1 || view.itemsize != 4 || !FormatIs(view, 'i') || view.shape[0] < 2) {
    PyBuffer_Release(&view);
    PyErr_SetString(PyExc_ValueError, "tid2pdf must be a 1-D int32 array indexed by transition-id");
    return -1;
  }
  auto *table = new std::vector<int32_t>(static_cast<const int32_t *>(view.buf),
                                         static_cast<const int32_t *>(view.buf) + view.shape[0]);
  PyBuffer_Release(&view);
  int32_t max_pdf = -1;
  for (size_t i = 1; i < table->size(); ++i) {
    if ((*table)[i] < 0) {
      delete table;
      PyErr_SetString(PyExc_ValueError, "tid2pdf has a negative pdf-id");
      return -1;
    }
    max_pdf = std::max(max_pdf, (*table)[i]);
  }
  delete self->decoder;
  delete self->tid2pdf;
  Py_XDECREF(self->graph);
  Py_INCREF(graph);
  self->graph = reinterpret_cast<PyGraph *>(graph);
  self->tid2pdf = table;
  self->max_pdf = max_pdf;
  self->decoder = new kkd::LatticeDecoder(*self->graph->graph, opts);
  self->busy = false;
  return 0;
}

PyObject *Decoder_decode(PyDecoder *self, PyObject *args, PyObject *kwds) {
  static const char *kwlist[] = {"loglikes", "acoustic_scale", nullptr};
  PyObject *obj;
  float scale;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "Of", const_cast<char **>(kwlist), &obj, &scale)) return nullptr;
  if (self->decoder == nullptr) {
    PyErr_SetString(PyExc_ValueError, "Decoder not initialised");
    return nullptr;
  }
  if (self->busy) {
    PyErr_SetString(PyExc_RuntimeError, "Decoder is in use by another thread");
    return nullptr;
  }
  Py_buffer view;
  if (PyObject_GetBuffer(obj, &view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return nullptr;
  if (view.ndim != 2 || view.itemsize != 4 || !FormatIs(view, 'f')) {
    PyBuffer_Release(&view);
    PyErr_SetString(PyExc_ValueError, "loglikes must be a C-contiguous 2-D float32 array");
    return nullptr;
  }
  kkd::MappedLoglikes ll;
  ll.data = static_cast<const float *>(view.buf);
  ll.num_frames = static_cast<int32_t>(view.shape[0]);
  ll.num_pdfs = static_cast<int32_t>(view.shape[1]);
  ll.tid2pdf = self->tid2pdf->data();
  ll.num_tids = static_cast<int32_t>(self->tid2pdf->size());
  ll.scale = scale;
  if (self->max_pdf >= ll.num_pdfs) {
    PyBuffer_Release(&view);
    PyErr_Format(PyExc_ValueError, "loglikes have %d columns but the model has pdf-id %d", ll.num_pdfs,
                 self->max_pdf);
    return nullptr;
  }
  PyRawLattice *lat = NewRawLattice();
  if (lat == nullptr) {
    PyBuffer_Release(&view);
    return nullptr;
  }
  std::string err;
  bool ok, have_lattice = false;
  self->busy = true;
  Py_BEGIN_ALLOW_THREADS
  ok = self->decoder->Decode(ll, &err);
  if (ok) have_lattice = self->decoder->GetRawLattice(lat->lat);
  Py_END_ALLOW_THREADS
  self->busy = false;
  PyBuffer_Release(&view);
  if (!ok) {
    Py_DECREF(lat);
    PyErr_SetString(PyExc_ValueError, err.c_str());
    return nullptr;
  }
  if (!have_lattice) lat->lat->Clear();
  const kkd::DecodeStats &st = self->decoder->Stats();
  PyObject *info = Py_BuildValue(
      "{s:O,s:d,s:L,s:L,s:L,s:d}", "reached_final", self->decoder->ReachedFinal() ? Py_True : Py_False,
      "final_relative_cost", static_cast<double>(self->decoder->FinalRelativeCost()), "tokens",
      static_cast<long long>(st.tokens_created), "links", static_cast<long long>(st.links_created),
      "prune_visits", static_cast<long long>(st.prune_visits),
      "active_per_frame", st.frames > 0 ? static_cast<double>(st.active_sum) / st.frames : 0.0);
  if (info == nullptr) {
    Py_DECREF(lat);
    return nullptr;
  }
  return Py_BuildValue("(NN)", lat, info);
}

PyMethodDef Decoder_methods[] = {
    {"decode", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(Decoder_decode)),
     METH_VARARGS | METH_KEYWORDS,
     "decode(loglikes, acoustic_scale) -> (RawLattice, info): loglikes a C-contiguous (T, num_pdfs) "
     "float32 array; the lattice is empty when some frame kept no token"},
    {nullptr, nullptr, 0, nullptr}};

PyMethodDef module_methods[] = {
    {"raw_lattice", RawLatticeFromLists, METH_VARARGS,
     "raw_lattice(start, arcs, finals) -> RawLattice (arcs[s] = [(ilabel, olabel, graph, acoustic, next)])"},
    {nullptr, nullptr, 0, nullptr}};

PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_latgen",
                          "Compiled lattice decoder and pruned determinization (see kaldi_kd.decode.fast).",
                          -1, module_methods};

}  // namespace

PyMODINIT_FUNC PyInit__latgen(void) {
  GraphType.tp_name = "kaldi_kd.decode._latgen.Graph";
  GraphType.tp_basicsize = sizeof(PyGraph);
  GraphType.tp_flags = Py_TPFLAGS_DEFAULT;
  GraphType.tp_doc = "Graph(path): an OpenFst HCLG (const: memory-mapped, or vector)";
  GraphType.tp_new = PyType_GenericNew;
  GraphType.tp_init = reinterpret_cast<initproc>(Graph_init);
  GraphType.tp_dealloc = reinterpret_cast<destructor>(Graph_dealloc);
  GraphType.tp_getset = Graph_getset;

  RawLatticeType.tp_name = "kaldi_kd.decode._latgen.RawLattice";
  RawLatticeType.tp_basicsize = sizeof(PyRawLattice);
  RawLatticeType.tp_flags = Py_TPFLAGS_DEFAULT;
  RawLatticeType.tp_doc = "A raw state-level lattice held in C++ (from Decoder.decode or raw_lattice)";
  RawLatticeType.tp_dealloc = reinterpret_cast<destructor>(RawLattice_dealloc);
  RawLatticeType.tp_getset = RawLattice_getset;
  RawLatticeType.tp_methods = RawLattice_methods;

  DecoderType.tp_name = "kaldi_kd.decode._latgen.Decoder";
  DecoderType.tp_basicsize = sizeof(PyDecoder);
  DecoderType.tp_flags = Py_TPFLAGS_DEFAULT;
  DecoderType.tp_doc =
      "Decoder(graph, tid2pdf, beam=16, lattice_beam=10, max_active=2**31-1, min_active=200, "
      "prune_interval=25, beam_delta=0.5, prune_scale=0.1)";
  DecoderType.tp_new = PyType_GenericNew;
  DecoderType.tp_init = reinterpret_cast<initproc>(Decoder_init);
  DecoderType.tp_dealloc = reinterpret_cast<destructor>(Decoder_dealloc);
  DecoderType.tp_methods = Decoder_methods;

  if (PyType_Ready(&GraphType) < 0 || PyType_Ready(&RawLatticeType) < 0 || PyType_Ready(&DecoderType) < 0)
    return nullptr;
  PyObject *m = PyModule_Create(&module_def);
  if (m == nullptr) return nullptr;
  Py_INCREF(&GraphType);
  Py_INCREF(&RawLatticeType);
  Py_INCREF(&DecoderType);
  if (PyModule_AddObject(m, "Graph", reinterpret_cast<PyObject *>(&GraphType)) < 0 ||
      PyModule_AddObject(m, "RawLattice", reinterpret_cast<PyObject *>(&RawLatticeType)) < 0 ||
      PyModule_AddObject(m, "Decoder", reinterpret_cast<PyObject *>(&DecoderType)) < 0) {
    Py_DECREF(m);
    return nullptr;
  }
  return m;
}
