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
  py::array ga, gb;
  if (has_ga) {
    ga = py::reinterpret_borrow<py::array>(ga_obj);
    check_same_dtype(ga, "ga", gy, "gy");
    check_out(ga, "ga");
    check_same_shape(ga, "ga", gy, "gy");
  }
  if (has_gb) {
    gb = py::reinterpret_borrow<py::array>(gb_obj);
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

}  // namespace

void bind_elementwise(py::module_& m) {
  py::list unary_names, binary_names, compare_names;

#define FG_BIND_UNARY(name, F)                                                                 \
  m.def(#name "_forward", &unary_forward<fg::math::F>, py::arg("x").noconvert(),               \
        py::arg("out").noconvert(), py::arg("a") = 0.0, py::arg("b") = 0.0,                    \
        "out[...] = " #name "(x; a, b). x: float32/64, any strides; out: C-contiguous, same " \
        "shape and dtype.");                                                                   \
  m.def(#name "_backward", &unary_backward<fg::math::F>, py::arg("x").noconvert(),             \
        py::arg("y").noconvert(), py::arg("gy").noconvert(), py::arg("out").noconvert(),       \
        py::arg("a") = 0.0, py::arg("b") = 0.0,                                                \
        "out[...] = d" #name "/dx * gy in one pass (x saved input, y saved output).");        \
  unary_names.append(#name);
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
  binary_names.append(#name);
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
}

}  // namespace fg::bind
