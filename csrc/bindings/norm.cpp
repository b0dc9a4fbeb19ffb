// Bindings for the norm kernel family: batch_norm_forward, batch_norm_backward (csrc/cpu/norm.h).
#include "cpu/norm.h"

#include "bindings/common.h"

namespace fg::bind {
namespace {

// (n, c, l) of a 2-D (N, C) or 3-D (N, C, L) C-contiguous input.
void ncl_of(const py::array& x, int64_t* n, int64_t* c, int64_t* l) {
  if (x.ndim() != 2 && x.ndim() != 3)
    throw std::invalid_argument("batch_norm: expected 2-D (N, C) or 3-D (N, C, L) input, got shape " +
                                shape_str(x));
  check_contiguous(x, "x");
  *n = x.shape(0);
  *c = x.shape(1);
  *l = x.ndim() == 3 ? x.shape(2) : 1;
}

// Pointer of an optional per-channel array (None -> nullptr), checked: dtype of x, shape (c,),
// contiguous, and writeable when `out`.
template <class T>
T* channel_ptr(const py::object& o, const py::array& x, int64_t c, const char* name, bool out) {
  if (o.is_none()) return nullptr;
  if (!py::isinstance<py::array>(o))
    throw py::type_error(std::string(name) + ": expected a NumPy array or None");
  auto a = py::reinterpret_borrow<py::array>(o);
  check_same_dtype(a, name, x, "x");
  if (a.ndim() != 1 || a.shape(0) != c)
    throw std::invalid_argument(std::string(name) + ": expected shape (" + std::to_string(c) +
                                ",), got " + shape_str(a));
  if (out)
    check_out(a, name);
  else
    check_contiguous(a, name);
  return static_cast<T*>(out ? a.mutable_data() : const_cast<void*>(a.data()));
}

void batch_norm_forward(const py::array& x, const py::object& weight, const py::object& bias,
                        py::array& y, py::array& save_mean, py::array& save_invstd,
                        const py::object& running_mean, const py::object& running_var,
                        bool batch_stats, double momentum_factor, double eps) {
  int64_t n, c, l;
  ncl_of(x, &n, &c, &l);
  const DType dt = float_dtype(x, "x");
  check_same_dtype(y, "y", x, "x");
  check_same_shape(y, "y", x, "x");
  check_out(y, "y");
  if (!batch_stats && (running_mean.is_none() || running_var.is_none()))
    throw std::invalid_argument("batch_norm: running_mean and running_var are required when "
                                "batch_stats is False");
  dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* w = channel_ptr<T>(weight, x, c, "weight", false);
    const T* b = channel_ptr<T>(bias, x, c, "bias", false);
    T* sm = channel_ptr<T>(save_mean, x, c, "save_mean", true);
    T* si = channel_ptr<T>(save_invstd, x, c, "save_invstd", true);
    T* rm = channel_ptr<T>(running_mean, x, c, "running_mean", true);
    T* rv = channel_ptr<T>(running_var, x, c, "running_var", true);
    const T* xp = in_ptr<T>(x);
    T* yp = out_ptr<T>(y);
    py::gil_scoped_release nogil;
    fg::cpu::batch_norm_forward<T>(xp, w, b, yp, sm, si, rm, rv, n, c, l, batch_stats,
                                   momentum_factor, eps);
  });
}

void batch_norm_backward(const py::array& x, const py::array& gy, const py::object& weight,
                         const py::array& save_mean, const py::array& save_invstd,
                         const py::object& gx, const py::object& gweight, const py::object& gbias,
                         bool batch_stats) {
  int64_t n, c, l;
  ncl_of(x, &n, &c, &l);
  const DType dt = float_dtype(x, "x");
  check_same_dtype(gy, "gy", x, "x");
  check_same_shape(gy, "gy", x, "x");
  check_contiguous(gy, "gy");
  dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    T* gxp = nullptr;
    if (!gx.is_none()) {
      if (!py::isinstance<py::array>(gx)) throw py::type_error("gx: expected a NumPy array or None");
      auto g = py::reinterpret_borrow<py::array>(gx);
      check_same_dtype(g, "gx", x, "x");
      check_same_shape(g, "gx", x, "x");
      check_out(g, "gx");
      gxp = static_cast<T*>(g.mutable_data());
    }
    const T* w = channel_ptr<T>(weight, x, c, "weight", false);
    const T* sm = channel_ptr<T>(save_mean, x, c, "save_mean", false);
    const T* si = channel_ptr<T>(save_invstd, x, c, "save_invstd", false);
    T* gw = channel_ptr<T>(gweight, x, c, "gweight", true);
    T* gb = channel_ptr<T>(gbias, x, c, "gbias", true);
    const T* xp = in_ptr<T>(x);
    const T* gyp = in_ptr<T>(gy);
    py::gil_scoped_release nogil;
    fg::cpu::batch_norm_backward<T>(xp, gyp, w, sm, si, gxp, gw, gb, n, c, l, batch_stats);
  });
}

}  // namespace

void bind_norm(py::module_& m) {
  m.def("batch_norm_forward", &batch_norm_forward, py::arg("x").noconvert(),
        py::arg("weight").none(true), py::arg("bias").none(true), py::arg("y").noconvert(),
        py::arg("save_mean").noconvert(), py::arg("save_invstd").noconvert(),
        py::arg("running_mean").none(true), py::arg("running_var").none(true),
        py::arg("batch_stats"), py::arg("momentum_factor"), py::arg("eps"),
        "Fused batch-norm forward over (N, C) or (N, C, L): statistics, normalise, affine and "
        "running-stat update in one call; writes y, save_mean, save_invstd (and the running "
        "stats in place).");
  m.def("batch_norm_backward", &batch_norm_backward, py::arg("x").noconvert(),
        py::arg("gy").noconvert(), py::arg("weight").none(true),
        py::arg("save_mean").noconvert(), py::arg("save_invstd").noconvert(),
        py::arg("gx").none(true), py::arg("gweight").none(true), py::arg("gbias").none(true),
        py::arg("batch_stats"),
        "Fused batch-norm backward: Σdy, Σdy·x̂ and dx in one call; writes gx, gweight, gbias "
        "(each may be None).");
}

}  // namespace fg::bind
