// The reverse sweep's loop, native: _C.graph_sweep(roots, root_grads, retain_graph, hooks).
//
// This is the fused path of python/fusegrad/autograd/graph.py, which holds the rules and the
// plain reference implementation (`run_backward_reference`); a test runs both on the same
// graphs and compares every gradient. The loop does exactly what the reference does, on the
// same Python objects (Function nodes, Tensors, backend arrays of any library):
//   - nodes that have received a gradient wait in a max-heap keyed by their creation number
//     `_seq` (inputs are always older than their consumers, so this is a topological order);
//   - a single-output node's slot is one gradient array, a multi-output node's a list with
//     one entry per output (missing ones are filled by the `fill` hook before backward);
//   - `node.backward(node, *grads)` gives one gradient per input (a bare value is one);
//   - each gradient whose shape differs from its input's array is summed back to that shape
//     by `input._backend.sum_to_shape` (un-broadcasting, in this one place);
//   - a gradient reaching a leaf goes to the `deliver` hook (accumulation into .grad or
//     capture for autograd.grad: graph.py's policy); one reaching a node is added to its slot
//     with `backend.binary_forward("add", old, new)`;
//   - without retain_graph the node's saved arrays are dropped and the node marked freed;
//     a freed node reached again raises RuntimeError(freed_msg).
// hooks = (deliver(t, g, backend), on_node(node, grads) or None, fill(node, grads) -> list,
//          freed_msg). The GIL is held throughout: every step touches Python objects.
// Kept native because on small tensors the bookkeeping, not the kernels, is the cost of a
// backward pass (issue 2's per-op budget): attribute reads and heap steps in C are a fraction
// of the same steps in the interpreter.
#include <algorithm>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "bindings/common.h"

namespace fg::bind {
namespace {

// Attribute and method names, interned once.
struct Names {
  PyObject* grad_fn;
  PyObject* out_idx;
  PyObject* n_out;
  PyObject* seq;
  PyObject* freed;
  PyObject* backward;
  PyObject* inputs;
  PyObject* needs;
  PyObject* saved;
  PyObject* data;
  PyObject* shape;
  PyObject* backend;
  PyObject* sum_to_shape;
  PyObject* binary_forward;
  PyObject* add;
};

PyObject* intern(const char* s) {
  PyObject* o = PyUnicode_InternFromString(s);
  if (!o) throw py::error_already_set();
  return o;  // kept for the module's lifetime
}

const Names& names() {
  static const Names n = {intern("grad_fn"),          intern("_out_idx"),
                          intern("_n_out"),           intern("_seq"),
                          intern("_freed"),           intern("backward"),
                          intern("inputs"),           intern("needs_input_grad"),
                          intern("saved_tensors"),    intern("_data"),
                          intern("shape"),            intern("_backend"),
                          intern("sum_to_shape"),     intern("binary_forward"),
                          intern("add")};
  return n;
}

py::object steal_or_throw(PyObject* o) {
  if (!o) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(o);
}

py::object get(PyObject* o, PyObject* name) { return steal_or_throw(PyObject_GetAttr(o, name)); }

long long get_ll(PyObject* o, PyObject* name) {
  py::object v = get(o, name);
  const long long r = PyLong_AsLongLong(v.ptr());
  if (r == -1 && PyErr_Occurred()) throw py::error_already_set();
  return r;
}

bool truth(PyObject* o) {
  if (o == Py_True) return true;
  if (o == Py_False || o == Py_None) return false;
  const int r = PyObject_IsTrue(o);
  if (r < 0) throw py::error_already_set();
  return r != 0;
}

// backend.<method>(args...) as a new reference.
template <size_t N>
py::object call_method(PyObject* self, PyObject* method, PyObject* const (&args)[N]) {
  PyObject* argv[N + 1] = {self};
  for (size_t i = 0; i < N; ++i) argv[i + 1] = args[i];
  return steal_or_throw(
      PyObject_VectorcallMethod(method, argv, (N + 1) | PY_VECTORCALL_ARGUMENTS_OFFSET, nullptr));
}

// g.shape == a.shape, without building shape tuples when both are NumPy arrays.
bool same_shape(PyObject* g, PyObject* a) {
  auto& api = py::detail::npy_api::get();
  if (api.PyArray_Check_(g) && api.PyArray_Check_(a)) {
    const auto* pg = py::detail::array_proxy(g);
    const auto* pa = py::detail::array_proxy(a);
    if (pg->nd != pa->nd) return false;
    for (int i = 0; i < pg->nd; ++i)
      if (pg->dimensions[i] != pa->dimensions[i]) return false;
    return true;
  }
  const Names& n = names();
  py::object sg = get(g, n.shape), sa = get(a, n.shape);
  const int r = PyObject_RichCompareBool(sg.ptr(), sa.ptr(), Py_EQ);
  if (r < 0) throw py::error_already_set();
  return r != 0;
}

// t._out_idx, checked against the number of outputs of the node that made t.
long long out_index(PyObject* t, Py_ssize_t n_out) {
  const long long i = get_ll(t, names().out_idx);
  if (i < 0 || i >= n_out)
    throw py::index_error("graph_sweep: a tensor's _out_idx " + std::to_string(i) +
                          " is outside its node's " + std::to_string(n_out) + " outputs");
  return i;
}

class Sweep {
 public:
  Sweep(bool retain, PyObject* deliver, PyObject* on_node, PyObject* fill, PyObject* freed_msg)
      : retain_(retain), deliver_(deliver), on_node_(on_node), fill_(fill), freed_msg_(freed_msg) {}

  // A gradient for Tensor `t`: to its producing node's slot, or to the deliver hook for a leaf.
  void route(PyObject* t, py::object g) {
    const Names& n = names();
    py::object node = get(t, n.grad_fn);
    if (node.is_none()) {
      py::object be = get(t, n.backend);
      PyObject* argv[] = {t, g.ptr(), be.ptr()};
      steal_or_throw(PyObject_Vectorcall(deliver_, argv, 3, nullptr));
      return;
    }
    auto it = index_.find(node.ptr());
    if (it == index_.end()) {
      Slot s;
      s.seq = get_ll(node.ptr(), n.seq);
      const long long n_out = get_ll(node.ptr(), n.n_out);
      s.multi = n_out != 1;
      if (s.multi) {
        if (n_out < 1) throw py::value_error("graph_sweep: a node with _n_out < 1");
        py::list grads(n_out);
        for (long long i = 0; i < n_out; ++i) grads[i] = py::none();
        grads[out_index(t, n_out)] = g;
        s.grad = std::move(grads);
      } else {
        s.grad = std::move(g);
      }
      s.node = std::move(node);
      index_.emplace(s.node.ptr(), slots_.size());
      heap_.emplace_back(s.seq, slots_.size());
      std::push_heap(heap_.begin(), heap_.end());
      slots_.push_back(std::move(s));
      return;
    }
    Slot& s = slots_[it->second];
    py::object be = get(t, n.backend);
    if (!s.multi) {
      s.grad = add(be.ptr(), s.grad.ptr(), g.ptr());
      return;
    }
    const long long i = out_index(t, PyList_GET_SIZE(s.grad.ptr()));
    PyObject* old = PyList_GET_ITEM(s.grad.ptr(), i);  // borrowed
    py::object sum = old == Py_None ? std::move(g) : add(be.ptr(), old, g.ptr());
    PyList_SetItem(s.grad.ptr(), i, sum.release().ptr());  // steals; i is in range
  }

  void run() {
    const Names& n = names();
    std::vector<PyObject*> argv;
    while (!heap_.empty()) {
      std::pop_heap(heap_.begin(), heap_.end());
      Slot s = std::move(slots_[heap_.back().second]);
      heap_.pop_back();
      index_.erase(s.node.ptr());
      PyObject* node = s.node.ptr();
      if (truth(get(node, n.freed).ptr())) {
        PyErr_SetObject(PyExc_RuntimeError, freed_msg_);
        throw py::error_already_set();
      }
      argv.assign(1, node);
      py::object grads = std::move(s.grad);
      if (on_node_ != Py_None) {  // autograd.grad: sees the gradients as they arrived
        py::object gt = s.multi ? steal_or_throw(PySequence_Tuple(grads.ptr()))
                                : py::make_tuple(grads);
        PyObject* hargv[] = {node, gt.ptr()};
        steal_or_throw(PyObject_Vectorcall(on_node_, hargv, 2, nullptr));
      }
      if (s.multi) {
        bool missing = false;
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(grads.ptr()); ++i)
          missing |= PyList_GET_ITEM(grads.ptr(), i) == Py_None;
        if (missing) {
          PyObject* fargv[] = {node, grads.ptr()};
          py::object filled = steal_or_throw(PyObject_Vectorcall(fill_, fargv, 2, nullptr));
          grads = steal_or_throw(PySequence_Fast(filled.ptr(), "fill must return a sequence"));
        }
        for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(grads.ptr()); ++i)
          argv.push_back(PySequence_Fast_GET_ITEM(grads.ptr(), i));
      } else {
        argv.push_back(grads.ptr());
      }
      py::object bw = get(node, n.backward);
      py::object res =
          steal_or_throw(PyObject_Vectorcall(bw.ptr(), argv.data(), argv.size(), nullptr));
      grads = py::object();  // the node's output gradients are not needed any more
      if (!retain_) {
        if (PyObject_SetAttr(node, n.saved, Py_None) < 0 ||
            PyObject_SetAttr(node, n.freed, Py_True) < 0)
          throw py::error_already_set();
      }
      py::object inputs = get(node, n.inputs), needs = get(node, n.needs);
      py::object in_seq =
          steal_or_throw(PySequence_Fast(inputs.ptr(), "node.inputs must be a sequence"));
      py::object need_seq =
          steal_or_throw(PySequence_Fast(needs.ptr(), "node.needs_input_grad must be a sequence"));
      // A tuple is one gradient per input; any other value is the gradient of the only input.
      const bool one = !PyTuple_CheckExact(res.ptr());
      const Py_ssize_t n_res = one ? 1 : PyTuple_GET_SIZE(res.ptr());
      const Py_ssize_t m = std::min({PySequence_Fast_GET_SIZE(in_seq.ptr()),
                                     PySequence_Fast_GET_SIZE(need_seq.ptr()), n_res});
      for (Py_ssize_t i = 0; i < m; ++i) {
        PyObject* g = one ? res.ptr() : PyTuple_GET_ITEM(res.ptr(), i);
        if (g == Py_None || !truth(PySequence_Fast_GET_ITEM(need_seq.ptr(), i))) continue;
        PyObject* t = PySequence_Fast_GET_ITEM(in_seq.ptr(), i);
        py::object data = get(t, n.data);
        py::object gi = py::reinterpret_borrow<py::object>(g);
        if (!same_shape(g, data.ptr())) {  // un-broadcasting, in this one place
          py::object be = get(t, n.backend), shape = get(data.ptr(), n.shape);
          PyObject* args[] = {g, shape.ptr()};
          gi = call_method(be.ptr(), n.sum_to_shape, args);
        }
        route(t, std::move(gi));
      }
    }
  }

 private:
  struct Slot {
    py::object node;
    long long seq = 0;
    bool multi = false;
    py::object grad;  // one output: the gradient; several: a list (None where none arrived)
  };

  static py::object add(PyObject* backend, PyObject* a, PyObject* b) {
    PyObject* args[] = {names().add, a, b};
    return call_method(backend, names().binary_forward, args);
  }

  bool retain_;
  PyObject* deliver_;
  PyObject* on_node_;
  PyObject* fill_;
  PyObject* freed_msg_;
  std::vector<Slot> slots_;
  std::unordered_map<PyObject*, size_t> index_;     // node -> index into slots_
  std::vector<std::pair<long long, size_t>> heap_;  // (seq, slot index), max-heap
};

void graph_sweep(const py::sequence& roots, const py::sequence& root_grads, bool retain_graph,
                 const py::tuple& hooks) {
  if (hooks.size() != 4)
    throw py::value_error("graph_sweep: hooks must be (deliver, on_node, fill, freed_msg)");
  if (roots.size() != root_grads.size())
    throw py::value_error("graph_sweep: " + std::to_string(roots.size()) + " roots but " +
                          std::to_string(root_grads.size()) + " root gradients");
  Sweep sweep(retain_graph, hooks[0].ptr(), hooks[1].ptr(), hooks[2].ptr(), hooks[3].ptr());
  for (size_t i = 0; i < roots.size(); ++i) {
    py::object t = roots[i];
    sweep.route(t.ptr(), py::object(root_grads[i]));
  }
  sweep.run();
}

}  // namespace

void bind_graph(py::module_& m) {
  names();  // intern the attribute names with the GIL held
  m.def("graph_sweep", &graph_sweep, py::arg("roots"), py::arg("root_grads"),
        py::arg("retain_graph"), py::arg("hooks"),
        "The reverse sweep of autograd/graph.py run natively (see that module): propagates "
        "root_grads from roots (Tensors) through the graph of Function nodes. hooks = "
        "(deliver(t, g, backend), on_node(node, grads) or None, fill(node, grads) -> list, "
        "freed_msg).");
}

}  // namespace fg::bind
