// Bindings for the elementwise family, generated from the X-lists in csrc/math:
//   _C.<op>_forward(x, out, a=0.0, b=0.0)               for op in FG_UNARY_OPS
//   _C.<op>_backward(x, y, gy, out, a=0.0, b=0.0)
//   _C.<op>_forward(a, b, out)                           for op in FG_BINARY_OPS
//   _C.<op>_backward(a, b, y, gy, ga, gb)                (y, ga, gb may be None; see below)
//   _C.<cmp>(a, b, out)                                  for cmp in FG_COMPARE_OPS (bool out)
//   _C.UNARY_OPS, _C.BINARY_OPS, _C.COMPARE_OPS          tuples of the op names
//   _C.elementwise_isa()                                 "x86-64-v4" / "x86-64-v3" / "baseline"
// Inputs: float32/float64 ndarrays of any strides (never copied). Binary inputs broadcast
// against `out` by NumPy rules inside the kernel (no broadcast copies). Outputs: C-contiguous,
// writeable, the inputs' dtype, the (broadcast) shape; anything else raises TypeError /
// ValueError instead of being copied. The GIL is released around every kernel.
#include <cstring>
#include <string>

#include "bindings/common.h"
#include "cpu/elementwise.h"
#include "math/binary.h"
#include "math/unary.h"

namespace fg::bind {
namespace {

using fg::cpu::kMaxDims;

// Shape and element strides of one array, on the stack (no allocation on the hot path).
struct Dims {
  int ndim = 0;
  int64_t shape[kMaxDims];
  int64_t st[kMaxDims];
};

void element_strides(const py::array& a, const char* name, int64_t* st) {
  const auto item = static_cast<int64_t>(a.itemsize());
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    const auto s = static_cast<int64_t>(a.strides(i));
    if (s % item != 0)
      throw py::value_error(std::string(name) + ": strides are not a multiple of the itemsize");
    st[i] = s / item;
  }
}

// The output's shape; checks it is a C-contiguous writeable array.
Dims out_dims(const py::array& out, const char* name) {
  check_out(out, name);
  Dims d;
  d.ndim = static_cast<int>(out.ndim());
  for (int i = 0; i < d.ndim; ++i) d.shape[i] = out.shape(i);
  return d;
}

// Element strides of `a` read over `out`'s shape by NumPy broadcasting (stride 0 where a has
// size 1 or lacks the dim). ValueError naming both shapes when `a` does not broadcast.
void broadcast_strides(const py::array& a, const char* name, const py::array& out,
                       const char* out_name, int64_t* st) {
  const int nd = static_cast<int>(out.ndim());
  const int na = static_cast<int>(a.ndim());
  int64_t own[kMaxDims];
  element_strides(a, name, own);
  bool ok = na <= nd;
  for (int i = 0; i < nd && ok; ++i) {
    const int j = i - (nd - na);
    if (j < 0) {
      st[i] = 0;
    } else if (a.shape(j) == out.shape(i)) {
      st[i] = a.shape(j) == 1 ? 0 : own[j];
    } else if (a.shape(j) == 1) {
      st[i] = 0;
    } else {
      ok = false;
    }
  }
  if (!ok)
    throw py::value_error(std::string("shape mismatch: ") + name + " has shape " + shape_str(a) +
                          ", which does not broadcast to " + out_name + "'s shape " +
                          shape_str(out));
}

// Same shape as `out` exactly (unary operands, gradients); strides in elements.
void same_shape_strides(const py::array& a, const char* name, const py::array& out,
                        const char* out_name, int64_t* st) {
  check_same_shape(a, name, out, out_name);
  element_strides(a, name, st);
}

template <class Op>
void unary_forward(const py::array& x, py::array& out, double a, double b) {
  const DType dt = float_dtype(x, "x");
  check_same_dtype(x, "x", out, "out");
  Dims d = out_dims(out, "out");
  same_shape_strides(x, "x", out, "out", d.st);
  dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = in_ptr<T>(x);
    T* yp = out_ptr<T>(out);
    py::gil_scoped_release release;
    fg::cpu::unary_forward<Op, T>(xp, yp, d.ndim, d.shape, d.st, T(a), T(b));
  });
}

template <class Op>
void unary_backward(const py::array& x, const py::array& y, const py::array& gy, py::array& out,
                    double a, double b) {
  const DType dt = float_dtype(gy, "gy");
  check_same_dtype(x, "x", gy, "gy");
  check_same_dtype(y, "y", gy, "gy");
  check_same_dtype(out, "out", gy, "gy");
  Dims d = out_dims(out, "out");
  int64_t xs[kMaxDims], ys[kMaxDims];
  same_shape_strides(x, "x", out, "out", xs);
  same_shape_strides(y, "y", out, "out", ys);
  same_shape_strides(gy, "gy", out, "out", d.st);
  dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = in_ptr<T>(x);
    const T* yp = in_ptr<T>(y);
    const T* gp = in_ptr<T>(gy);
    T* op = out_ptr<T>(out);
    py::gil_scoped_release release;
    fg::cpu::unary_backward<Op, T>(xp, yp, gp, op, d.ndim, d.shape, xs, ys, d.st, T(a), T(b));
  });
}

template <class Op>
void binary_forward(const py::array& a, const py::array& b, py::array& out) {
  const DType dt = float_dtype(a, "a");
  check_same_dtype(a, "a", b, "b");
  check_same_dtype(a, "a", out, "out");
  Dims d = out_dims(out, "out");
  int64_t as[kMaxDims], bs[kMaxDims];
  broadcast_strides(a, "a", out, "out", as);
  broadcast_strides(b, "b", out, "out", bs);
  dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* ap = in_ptr<T>(a);
    const T* bp = in_ptr<T>(b);
    T* yp = out_ptr<T>(out);
    py::gil_scoped_release release;
    fg::cpu::binary_forward<Op, T>(ap, bp, yp, d.ndim, d.shape, as, bs);
  });
}

// An optional array argument: None or an ndarray (no conversion).
bool is_array_or_none(const py::object& o, const char* name) {
  if (o.is_none()) return false;
  if (!py::isinstance<py::array>(o))
    throw py::type_error(std::string(name) + ": expected a numpy array or None");
  return true;
}

template <class Op>
void binary_backward(const py::array& a, const py::array& b, const py::object& y_obj,
                     const py::array& gy, const py::object& ga_obj, const py::object& gb_obj) {
  const DType dt = float_dtype(gy, "gy");
  check_same_dtype(a, "a", gy, "gy");
  check_same_dtype(b, "b", gy, "gy");
  const bool has_y = is_array_or_none(y_obj, "y");
  const bool has_ga = is_array_or_none(ga_obj, "ga");
  const bool has_gb = is_array_or_none(gb_obj, "gb");
  if (Op::kUsesY && !has_y) throw py::value_error("y: this op's backward needs the saved output");
  Dims d;
  d.ndim = static_cast<int>(gy.ndim());
  for (int i = 0; i < d.ndim; ++i) d.shape[i] = gy.shape(i);
  element_strides(gy, "gy", d.st);
  int64_t as[kMaxDims], bs[kMaxDims], ys[kMaxDims];
  broadcast_strides(a, "a", gy, "gy", as);
  broadcast_strides(b, "b", gy, "gy", bs);
  py::array y = has_y ? py::reinterpret_borrow<py::array>(y_obj) : gy;
  if (has_y) {
    check_same_dtype(y, "y", gy, "gy");
    same_shape_strides(y, "y", gy, "gy", ys);
  } else {
    element_strides(gy, "gy", ys);
  }
  // Unused outputs alias gy and are never written. (Not a default py::array: that allocates
  // an empty NumPy array, about a third of this call's cost on a 1-element tensor.)
  py::array ga = py::reinterpret_borrow<py::array>(has_ga ? ga_obj : gy);
  py::array gb = py::reinterpret_borrow<py::array>(has_gb ? gb_obj : gy);
  if (has_ga) {
    check_same_dtype(ga, "ga", gy, "gy");
    check_out(ga, "ga");
    check_same_shape(ga, "ga", gy, "gy");
  }
  if (has_gb) {
    check_same_dtype(gb, "gb", gy, "gy");
    check_out(gb, "gb");
    check_same_shape(gb, "gb", gy, "gy");
  }
  dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* ap = in_ptr<T>(a);
    const T* bp = in_ptr<T>(b);
    const T* yp = in_ptr<T>(y);
    const T* gp = in_ptr<T>(gy);
    T* gap = has_ga ? out_ptr<T>(ga) : nullptr;
    T* gbp = has_gb ? out_ptr<T>(gb) : nullptr;
    py::gil_scoped_release release;
    fg::cpu::binary_backward<Op, T>(ap, bp, yp, gp, gap, gbp, d.ndim, d.shape, as, bs, ys, d.st);
  });
}

template <class Op>
void compare(const py::array& a, const py::array& b, py::array& out) {
  const DType dt = float_dtype(a, "a");
  check_same_dtype(a, "a", b, "b");
  check_dtype(out, "out", DType::kBool, "bool");
  Dims d = out_dims(out, "out");
  int64_t as[kMaxDims], bs[kMaxDims];
  broadcast_strides(a, "a", out, "out", as);
  broadcast_strides(b, "b", out, "out", bs);
  dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* ap = in_ptr<T>(a);
    const T* bp = in_ptr<T>(b);
    bool* op = static_cast<bool*>(out.mutable_data());
    py::gil_scoped_release release;
    fg::cpu::compare<Op, T>(ap, bp, op, d.ndim, d.shape, as, bs);
  });
}

// ---- allocating entry points: the autograd hot path -------------------------------------
// The CPU backend's unary_forward / unary_backward / binary_forward / binary_backward are
// these four functions themselves (see python/fusegrad/backend/cpu.py). They take the op's
// X-list name, allocate the C-contiguous output(s) here and call the same checked kernels as
// the out= bindings above. They are plain CPython METH_FASTCALL functions rather than
// pybind11 ones: on a 1-element tensor the pybind11 dispatcher plus a Python-side np.empty
// cost more than the kernel, and this path runs twice per op of every autograd graph.
using UnaryFwd = void (*)(const py::array&, py::array&, double, double);
using UnaryBwd = void (*)(const py::array&, const py::array&, const py::array&, py::array&,
                          double, double);
using BinaryFwd = void (*)(const py::array&, const py::array&, py::array&);
using BinaryBwd = void (*)(const py::array&, const py::array&, const py::object&,
                           const py::array&, const py::object&, const py::object&);

struct FastTables {
  std::vector<UnaryFwd> unary_fwd;
  std::vector<UnaryBwd> unary_bwd;
  std::vector<BinaryFwd> binary_fwd;
  std::vector<BinaryBwd> binary_bwd;
  PyObject* unary_index = nullptr;   // dict: name -> index into unary_* ("pow" = pow_scalar)
  PyObject* binary_index = nullptr;  // dict: name -> index into binary_*
};
FastTables& fast_tables() {
  static FastTables t;
  return t;
}

// The op's index, or ValueError naming the known ops (as the backend protocol says).
size_t op_index(PyObject* index, PyObject* name, const char* kind) {
  PyObject* i = PyDict_GetItemWithError(index, name);  // borrowed
  if (i) return PyLong_AsSize_t(i);
  if (PyErr_Occurred()) throw py::error_already_set();
  py::list known(py::reinterpret_borrow<py::dict>(index).attr("keys")());
  known.attr("sort")();
  throw py::value_error(std::string("unknown ") + kind + " op " +
                        py::repr(name).cast<std::string>() + "; known: " +
                        py::repr(known).cast<std::string>());
}

py::array array_arg(PyObject* o, const char* name) {
  if (!py::detail::npy_api::get().PyArray_Check_(o))
    throw py::type_error(std::string(name) + ": expected a numpy array, got " +
                         Py_TYPE(o)->tp_name);
  return py::reinterpret_borrow<py::array>(o);
}

double float_arg(PyObject* o, const char* name) {
  const double v = PyFloat_AsDouble(o);
  if (v == -1.0 && PyErr_Occurred()) {
    PyErr_Clear();
    throw py::type_error(std::string(name) + ": expected a number, got " + Py_TYPE(o)->tp_name);
  }
  return v;
}

// A new C-contiguous native float32/float64 array of the given shape.
py::array new_array(DType dt, int ndim, const py::ssize_t* shape) {
  auto& api = py::detail::npy_api::get();
  const int type_num = dt == DType::kF32
                           ? py::detail::npy_api::NPY_FLOAT_
                           : py::detail::npy_api::NPY_DOUBLE_;
  PyObject* descr = api.PyArray_DescrFromType_(type_num);  // new reference, stolen below
  Py_intptr_t dims[kMaxDims];
  for (int i = 0; i < ndim; ++i) dims[i] = shape[i];
  PyObject* o = api.PyArray_NewFromDescr_(api.PyArray_Type_, descr, ndim, dims, nullptr,
                                          nullptr, 0, nullptr);
  if (!o) throw py::error_already_set();
  return py::reinterpret_steal<py::array>(o);
}

// A new array of a's shape and (float) dtype; TypeError naming `name` for other dtypes.
py::array new_like(const py::array& a, const char* name) {
  return new_array(float_dtype(a, name), static_cast<int>(a.ndim()), a.shape());
}

// The arguments of a METH_FASTCALL | METH_KEYWORDS call, by parameter name, into `out`
// (nullptr where an optional one was not given). TypeError as Python words it otherwise.
template <size_t N>
void parse_args(const char* fn, const char* const (&names)[N], size_t required,
                PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames, PyObject* (&out)[N]) {
  if (nargs > static_cast<Py_ssize_t>(N))
    throw py::type_error(std::string(fn) + "() takes at most " + std::to_string(N) +
                         " arguments (" + std::to_string(nargs) + " given)");
  for (size_t i = 0; i < N; ++i) out[i] = i < static_cast<size_t>(nargs) ? args[i] : nullptr;
  const Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
  for (Py_ssize_t k = 0; k < nkw; ++k) {
    const char* key = PyUnicode_AsUTF8(PyTuple_GET_ITEM(kwnames, k));
    if (!key) throw py::error_already_set();
    size_t j = 0;
    while (j < N && std::strcmp(names[j], key) != 0) ++j;
    if (j == N)
      throw py::type_error(std::string(fn) + "() got an unexpected keyword argument '" + key +
                           "'");
    if (out[j])
      throw py::type_error(std::string(fn) + "() got multiple values for argument '" + key +
                           "'");
    out[j] = args[nargs + k];
  }
  for (size_t i = 0; i < required; ++i)
    if (!out[i])
      throw py::type_error(std::string(fn) + "() missing required argument '" + names[i] + "'");
}

// unary_forward(name, x, a=0.0, b=0.0) -> y
PyObject* fast_unary_forward(PyObject* const* args, Py_ssize_t n, PyObject* kw) {
  static const char* const names[] = {"name", "x", "a", "b"};
  PyObject* v[4];
  parse_args("unary_forward", names, 2, args, n, kw, v);
  const FastTables& t = fast_tables();
  const size_t op = op_index(t.unary_index, v[0], "unary");
  py::array x = array_arg(v[1], "x");
  const double a = v[2] ? float_arg(v[2], "a") : 0.0;
  const double b = v[3] ? float_arg(v[3], "b") : 0.0;
  py::array y = new_like(x, "x");
  t.unary_fwd[op](x, y, a, b);
  return y.release().ptr();
}

// unary_backward(name, x, y, gy, a=0.0, b=0.0) -> gx
PyObject* fast_unary_backward(PyObject* const* args, Py_ssize_t n, PyObject* kw) {
  static const char* const names[] = {"name", "x", "y", "gy", "a", "b"};
  PyObject* v[6];
  parse_args("unary_backward", names, 4, args, n, kw, v);
  const FastTables& t = fast_tables();
  const size_t op = op_index(t.unary_index, v[0], "unary");
  py::array x = array_arg(v[1], "x"), y = array_arg(v[2], "y"), gy = array_arg(v[3], "gy");
  const double a = v[4] ? float_arg(v[4], "a") : 0.0;
  const double b = v[5] ? float_arg(v[5], "b") : 0.0;
  py::array gx = new_like(gy, "gy");
  t.unary_bwd[op](x, y, gy, gx, a, b);
  return gx.release().ptr();
}

// binary_forward(name, a, b) -> y at the broadcast shape of a and b
PyObject* fast_binary_forward(PyObject* const* args, Py_ssize_t n, PyObject* kw) {
  static const char* const names[] = {"name", "a", "b"};
  PyObject* v[3];
  parse_args("binary_forward", names, 3, args, n, kw, v);
  const FastTables& t = fast_tables();
  const size_t op = op_index(t.binary_index, v[0], "binary");
  py::array a = array_arg(v[1], "a"), b = array_arg(v[2], "b");
  const int na = static_cast<int>(a.ndim()), nb = static_cast<int>(b.ndim());
  const int nd = na > nb ? na : nb;
  py::ssize_t shape[kMaxDims];
  for (int i = 0; i < nd; ++i) {
    const py::ssize_t sa = i - (nd - na) >= 0 ? a.shape(i - (nd - na)) : 1;
    const py::ssize_t sb = i - (nd - nb) >= 0 ? b.shape(i - (nd - nb)) : 1;
    if (sa != sb && sa != 1 && sb != 1)
      throw py::value_error("shape mismatch: shapes " + shape_str(a) + " and " + shape_str(b) +
                            " cannot be broadcast together");
    shape[i] = sa == 1 ? sb : sa;
  }
  const DType dt = float_dtype(a, "a");
  check_same_dtype(a, "a", b, "b");
  py::array y = new_array(dt, nd, shape);
  t.binary_fwd[op](a, b, y);
  return y.release().ptr();
}

// binary_backward(name, a, b, y, gy, need_a, need_b) -> (ga or None, gb or None)
PyObject* fast_binary_backward(PyObject* const* args, Py_ssize_t n, PyObject* kw) {
  static const char* const names[] = {"name", "a", "b", "y", "gy", "need_a", "need_b"};
  PyObject* v[7];
  parse_args("binary_backward", names, 7, args, n, kw, v);
  const FastTables& t = fast_tables();
  const size_t op = op_index(t.binary_index, v[0], "binary");
  py::array a = array_arg(v[1], "a"), b = array_arg(v[2], "b");
  py::object y = py::reinterpret_borrow<py::object>(v[3]);
  py::array gy = array_arg(v[4], "gy");
  const int need_a = PyObject_IsTrue(v[5]), need_b = PyObject_IsTrue(v[6]);
  if (need_a < 0 || need_b < 0) throw py::error_already_set();
  py::object ga = py::none(), gb = py::none();
  if (need_a) ga = new_like(gy, "gy");
  if (need_b) gb = new_like(gy, "gy");
  if (need_a || need_b) t.binary_bwd[op](a, b, y, gy, ga, gb);
  return py::make_tuple(ga, gb).release().ptr();
}

template <PyObject* (*F)(PyObject* const*, Py_ssize_t, PyObject*)>
PyObject* fastcall(PyObject* /*self*/, PyObject* const* args, Py_ssize_t n, PyObject* kw) {
  try {
    return F(args, n, kw);
  } catch (py::error_already_set& e) {
    e.restore();
  } catch (...) {
    py::detail::try_translate_exceptions();  // pybind11's mapping: invalid_argument -> ValueError
  }
  return nullptr;
}

// Docstrings carry the signature (CPython's "--" convention) so inspect.signature sees the
// same parameters as the CUDA backend's methods.
#define FG_FASTCALL(name, sig, doc)                                                         \
  {#name, reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&fastcall<&fast_##name>)), \
   METH_FASTCALL | METH_KEYWORDS, #name sig "\n--\n\n" doc}
PyMethodDef kFastMethods[] = {
    FG_FASTCALL(unary_forward, "(self, name, x, a=0.0, b=0.0)",
                "y = op(x; a, b) as a new array (op: an X-list name; \"pow\" = pow_scalar)."),
    FG_FASTCALL(unary_backward, "(self, name, x, y, gy, a=0.0, b=0.0)",
                "gx = d op/dx * gy as a new array, in one pass."),
    FG_FASTCALL(binary_forward, "(self, name, a, b)",
                "y = op(a, b) as a new array at the broadcast shape of a and b."),
    FG_FASTCALL(binary_backward, "(self, name, a, b, y, gy, need_a, need_b)",
                "(ga, gb) at gy's shape in one pass, None where not needed; y (the saved "
                "output) may be None unless the op reads it (pow)."),
    {nullptr, nullptr, 0, nullptr}};
#undef FG_FASTCALL

// _C.ElementwiseKernels: a base class whose methods are the four functions above (the CPU
// backend derives from it, so they bind like ordinary methods).
PyObject* make_kernels_type() {
  static PyType_Slot slots[] = {
      {Py_tp_methods, kFastMethods},
      {Py_tp_doc, const_cast<char*>("Allocating elementwise kernel entry points (CPU backend base).")},
      {0, nullptr}};
  static PyType_Spec spec = {"fusegrad._C.ElementwiseKernels", sizeof(PyObject), 0,
                             Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, slots};
  PyObject* type = PyType_FromSpec(&spec);
  if (!type) throw py::error_already_set();
  return type;
}

}  // namespace

void bind_elementwise(py::module_& m) {
  py::list unary_names, binary_names, compare_names;
  FastTables& fast = fast_tables();

#define FG_BIND_UNARY(name, F)                                                                 \
  m.def(#name "_forward", &unary_forward<fg::math::F>, py::arg("x").noconvert(),               \
        py::arg("out").noconvert(), py::arg("a") = 0.0, py::arg("b") = 0.0,                    \
        "out[...] = " #name "(x; a, b). x: float32/64, any strides; out: C-contiguous, same " \
        "shape and dtype.");                                                                   \
  m.def(#name "_backward", &unary_backward<fg::math::F>, py::arg("x").noconvert(),             \
        py::arg("y").noconvert(), py::arg("gy").noconvert(), py::arg("out").noconvert(),       \
        py::arg("a") = 0.0, py::arg("b") = 0.0,                                                \
        "out[...] = d" #name "/dx * gy in one pass (x saved input, y saved output).");        \
  unary_names.append(#name);                                                                   \
  fast.unary_fwd.push_back(&unary_forward<fg::math::F>);                                       \
  fast.unary_bwd.push_back(&unary_backward<fg::math::F>);
  FG_UNARY_OPS(FG_BIND_UNARY)
#undef FG_BIND_UNARY

#define FG_BIND_BINARY(name, F)                                                              \
  m.def(#name "_forward", &binary_forward<fg::math::F>, py::arg("a").noconvert(),            \
        py::arg("b").noconvert(), py::arg("out").noconvert(),                                \
        "out[...] = " #name "(a, b); a and b broadcast to out's shape (read in place).");   \
  m.def(#name "_backward", &binary_backward<fg::math::F>, py::arg("a").noconvert(),          \
        py::arg("b").noconvert(), py::arg("y"), py::arg("gy").noconvert(), py::arg("ga"),    \
        py::arg("gb"),                                                                       \
        "ga[...], gb[...] = gradients of " #name " at gy's (broadcast) shape in one pass; "  \
        "ga / gb None to skip; y (saved output) may be None unless the op reads it (pow)."); \
  binary_names.append(#name);                                                                \
  fast.binary_fwd.push_back(&binary_forward<fg::math::F>);                                   \
  fast.binary_bwd.push_back(&binary_backward<fg::math::F>);
  FG_BINARY_OPS(FG_BIND_BINARY)
#undef FG_BIND_BINARY

#define FG_BIND_COMPARE(name, F)                                                          \
  m.def(#name, &compare<fg::math::F>, py::arg("a").noconvert(), py::arg("b").noconvert(), \
        py::arg("out").noconvert(),                                                       \
        "out[...] = (a " #name " b) as bool; a and b broadcast to out's shape.");        \
  compare_names.append(#name);
  FG_COMPARE_OPS(FG_BIND_COMPARE)
#undef FG_BIND_COMPARE

  m.def("elementwise_isa", &fg::cpu::elementwise_isa,
        "Instruction set the elementwise kernels were picked for: x86-64-v4, x86-64-v3 or "
        "baseline.");
  m.attr("UNARY_OPS") = py::tuple(unary_names);
  m.attr("BINARY_OPS") = py::tuple(binary_names);
  m.attr("COMPARE_OPS") = py::tuple(compare_names);

  py::dict unary_index, binary_index;
  for (size_t i = 0; i < unary_names.size(); ++i) unary_index[unary_names[i]] = i;
  for (size_t i = 0; i < binary_names.size(); ++i) binary_index[binary_names[i]] = i;
  unary_index["pow"] = unary_index["pow_scalar"];  // the backend protocol's name for x ** p
  fast.unary_index = unary_index.release().ptr();  // kept for the module's lifetime
  fast.binary_index = binary_index.release().ptr();
  m.attr("ElementwiseKernels") = py::reinterpret_steal<py::object>(make_kernels_type());
}

}  // namespace fg::bind
