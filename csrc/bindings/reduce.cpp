// Bindings for the reduce family (csrc/cpu/reduce.h):
//   _C.reduce_<op>(x, out, nkeep)            op in FG_REDUCE_OPS: sum, mean, max, min
//   _C.reduce_var(x, out, nkeep, correction)
//   _C.reduce_<op>_with_index(x, values, indices)    op in FG_INDEX_REDUCE_OPS: max, min
// x: float32/float64 of any strides, its first `nkeep` dims kept and the rest reduced (the
// backend permutes the axes with a view first); index reductions reduce x's LAST dim.
// Outputs: C-contiguous, writeable, shape x.shape[:nkeep] (index: x.shape[:-1]), x's dtype
// (indices int64); never copied. max / min over zero elements raise ValueError like NumPy.
// The GIL is released around every kernel.
#include <string>
#include <type_traits>

#include "bindings/common.h"
#include "cpu/elementwise.h"  // kMaxDims
#include "cpu/reduce.h"
#include "math/reduce.h"

namespace fg::bind {
namespace {

using fg::cpu::kMaxDims;

struct XDims {
  int ndim = 0;
  int64_t shape[kMaxDims];
  int64_t st[kMaxDims];
  int64_t kept = 1, reduced = 1;
};

// x's shape/strides; checks that out has shape x.shape[:nkeep].
XDims reduce_dims(const py::array& x, const py::array& out, int nkeep, const char* what) {
  XDims d;
  d.ndim = static_cast<int>(x.ndim());
  if (nkeep < 0 || nkeep > d.ndim)
    throw py::value_error(std::string(what) + ": nkeep=" + std::to_string(nkeep) +
                          " out of range for x of shape " + shape_str(x));
  const auto item = static_cast<int64_t>(x.itemsize());
  for (int i = 0; i < d.ndim; ++i) {
    d.shape[i] = x.shape(i);
    const auto s = static_cast<int64_t>(x.strides(i));
    if (s % item != 0) throw py::value_error("x: strides are not a multiple of the itemsize");
    d.st[i] = s / item;
    (i < nkeep ? d.kept : d.reduced) *= d.shape[i];
  }
  bool ok = out.ndim() == nkeep;
  for (int i = 0; ok && i < nkeep; ++i) ok = out.shape(i) == d.shape[i];
  if (!ok)
    throw py::value_error(std::string(what) + ": out has shape " + shape_str(out) +
                          " but x has shape " + shape_str(x) + " with " + std::to_string(nkeep) +
                          " kept dims");
  return d;
}

void check_nonempty(const XDims& d, const py::array& x, const char* what) {
  if (d.reduced == 0)
    throw py::value_error(std::string(what) +
                          ": zero-size reduction has no identity (x has shape " + shape_str(x) +
                          ")");
}

template <class R>
void reduce_values(const py::array& x, py::array& out, int nkeep, const char* what, bool mean) {
  const DType dt = float_dtype(x, "x");
  check_same_dtype(x, "x", out, "out");
  check_out(out, "out");
  const XDims d = reduce_dims(x, out, nkeep, what);
  constexpr bool is_sum = std::is_same_v<R, fg::math::SumReduce>;
  if (!is_sum) check_nonempty(d, x, what);
  dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = in_ptr<T>(x);
    T* op = out_ptr<T>(out);
    py::gil_scoped_release release;
    if constexpr (is_sum)
      fg::cpu::reduce_sum<T>(xp, op, d.ndim, d.shape, d.st, nkeep, mean);
    else
      fg::cpu::reduce_max<T>(xp, op, d.ndim, d.shape, d.st, nkeep,
                             std::is_same_v<R, fg::math::MinReduce>);
  });
}

void reduce_var(const py::array& x, py::array& out, int nkeep, double correction) {
  const DType dt = float_dtype(x, "x");
  check_same_dtype(x, "x", out, "out");
  check_out(out, "out");
  const XDims d = reduce_dims(x, out, nkeep, "reduce_var");
  dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = in_ptr<T>(x);
    T* op = out_ptr<T>(out);
    py::gil_scoped_release release;
    fg::cpu::reduce_var<T>(xp, op, d.ndim, d.shape, d.st, nkeep, correction);
  });
}

template <class S>
void reduce_with_index(const py::array& x, py::array& values, py::array& indices,
                       const char* what) {
  const DType dt = float_dtype(x, "x");
  if (x.ndim() < 1)
    throw py::value_error(std::string(what) +
                          ": x must have at least one dim (move the axis last)");
  check_same_dtype(x, "x", values, "values");
  check_out(values, "values");
  check_dtype(indices, "indices", DType::kI64, "int64");
  check_out(indices, "indices");
  const int nkeep = static_cast<int>(x.ndim()) - 1;
  const XDims d = reduce_dims(x, values, nkeep, what);
  check_same_shape(indices, "indices", values, "values");
  check_nonempty(d, x, what);
  dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = in_ptr<T>(x);
    T* vp = out_ptr<T>(values);
    int64_t* ip = out_ptr<int64_t>(indices);
    py::gil_scoped_release release;
    fg::cpu::reduce_with_index<T>(xp, vp, ip, d.ndim, d.shape, d.st,
                                  std::is_same_v<S, fg::math::ArgMin>);
  });
}

}  // namespace

void bind_reduce(py::module_& m) {
  py::list names;
#define FG_BIND_REDUCE(name, R)                                                              \
  m.def(                                                                                     \
      "reduce_" #name,                                                                       \
      [](const py::array& x, py::array& out, int nkeep) {                                    \
        reduce_values<fg::math::R>(x, out, nkeep, "reduce_" #name,                           \
                                   std::string(#name) == "mean");                            \
      },                                                                                     \
      py::arg("x").noconvert(), py::arg("out").noconvert(), py::arg("nkeep"),                \
      "out[...] = " #name " of x over its dims after the first nkeep (out: x.shape[:nkeep])."); \
  names.append(#name);
  FG_REDUCE_OPS(FG_BIND_REDUCE)
#undef FG_BIND_REDUCE

  m.def("reduce_var", &reduce_var, py::arg("x").noconvert(), py::arg("out").noconvert(),
        py::arg("nkeep"), py::arg("correction"),
        "out[...] = variance of x over its dims after the first nkeep, "
        "sum((x - mean)^2) / max(count - correction, 0).");

#define FG_BIND_INDEX(name, S)                                                              \
  m.def(                                                                                    \
      "reduce_" #name "_with_index",                                                        \
      [](const py::array& x, py::array& values, py::array& indices) {                       \
        reduce_with_index<fg::math::S>(x, values, indices, "reduce_" #name "_with_index");  \
      },                                                                                    \
      py::arg("x").noconvert(), py::arg("values").noconvert(),                              \
      py::arg("indices").noconvert(),                                                       \
      "values, indices[...] = " #name " of x along its last dim and the first index of it.");
  FG_INDEX_REDUCE_OPS(FG_BIND_INDEX)
#undef FG_BIND_INDEX

  m.attr("REDUCE_OPS") = py::tuple(names);
}

}  // namespace fg::bind
