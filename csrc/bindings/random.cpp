// Bindings for the random kernel family (csrc/cpu/random.h): dropout_forward, dropout_backward.
#include "cpu/random.h"

#include "bindings/common.h"

namespace fg::bind {
namespace {

void check_mask(const py::array& mask, const py::array& x) {
  check_dtype(mask, "mask", DType::kBool, "bool");
  check_same_shape(mask, "mask", x, "x");
  check_contiguous(mask, "mask");
}

void dropout_forward(const py::array& x, py::array& y, py::array& mask, double p, double scale,
                     uint64_t seed, uint64_t offset) {
  const DType dt = float_dtype(x, "x");
  check_contiguous(x, "x");
  check_same_dtype(y, "y", x, "x");
  check_same_shape(y, "y", x, "x");
  check_out(y, "y");
  check_mask(mask, x);
  check_out(mask, "mask");
  if (!(p >= 0.0 && p <= 1.0))
    throw std::invalid_argument("dropout probability has to be between 0 and 1, but got " +
                                std::to_string(p));
  const int64_t n = x.size();
  dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = in_ptr<T>(x);
    T* yp = out_ptr<T>(y);
    auto* mp = static_cast<uint8_t*>(mask.mutable_data());
    py::gil_scoped_release nogil;
    fg::cpu::dropout_forward<T>(xp, yp, mp, n, p, scale, seed, offset);
  });
}

void dropout_backward(const py::array& gy, const py::array& mask, py::array& gx, double scale) {
  const DType dt = float_dtype(gy, "gy");
  check_contiguous(gy, "gy");
  check_mask(mask, gy);
  check_same_dtype(gx, "gx", gy, "gy");
  check_same_shape(gx, "gx", gy, "gy");
  check_out(gx, "gx");
  const int64_t n = gy.size();
  dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* gp = in_ptr<T>(gy);
    const auto* mp = static_cast<const uint8_t*>(mask.data());
    T* out = out_ptr<T>(gx);
    py::gil_scoped_release nogil;
    fg::cpu::dropout_backward<T>(gp, mp, out, n, scale);
  });
}

}  // namespace

void bind_random(py::module_& m) {
  m.def("dropout_forward", &dropout_forward, py::arg("x").noconvert(), py::arg("y").noconvert(),
        py::arg("mask").noconvert(), py::arg("p"), py::arg("scale"), py::arg("seed"),
        py::arg("offset"),
        "Fused inverted dropout: draws the keep mask from Philox(seed, offset, index) and writes "
        "y = x·scale·mask and the mask in one pass.");
  m.def("dropout_backward", &dropout_backward, py::arg("gy").noconvert(),
        py::arg("mask").noconvert(), py::arg("gx").noconvert(), py::arg("scale"),
        "gx = gy·scale·mask.");
}

}  // namespace fg::bind
