// Bindings for the matmul family (cpu/matmul.h): gemm, gemm_batched, bias_grad, gemm_isa.
// Operands may be any strided view (transposes, slices, broadcast batch dims): the kernels
// read them through their strides, so nothing is copied here.
#include "cpu/matmul.h"

#include "bindings/common.h"

namespace fg::bind {
namespace {

void check_ndim(const py::array& a, const char* name, py::ssize_t ndim) {
  if (a.ndim() != ndim)
    throw std::invalid_argument(std::string(name) + ": expected a " + std::to_string(ndim) +
                                "-D array, got shape " + shape_str(a));
}

void check_out_shape(const py::array& out, const std::vector<int64_t>& want) {
  bool same = static_cast<size_t>(out.ndim()) == want.size();
  for (size_t i = 0; same && i < want.size(); ++i)
    same = out.shape(static_cast<py::ssize_t>(i)) == want[i];
  if (!same) {
    std::string w = "(";
    for (size_t i = 0; i < want.size(); ++i) w += (i ? ", " : "") + std::to_string(want[i]);
    if (want.size() == 1) w += ",";
    throw std::invalid_argument("out: expected shape " + w + "), got " + shape_str(out));
  }
}

void check_inner(const py::array& a, const py::array& b) {
  if (a.shape(a.ndim() - 1) != b.shape(b.ndim() - 2))
    throw std::invalid_argument("matmul: inner dimensions differ: a has shape " + shape_str(a) +
                                " but b has shape " + shape_str(b));
}

// out (m, n) = act(a (m, k) @ b (k, n) + bias)
void gemm(const py::array& a, const py::array& b, py::array& out, const py::object& bias_obj,
          bool relu) {
  const DType dt = float_dtype(a, "a");
  check_same_dtype(a, "a", b, "b");
  check_same_dtype(a, "a", out, "out");
  check_ndim(a, "a", 2);
  check_ndim(b, "b", 2);
  check_inner(a, b);
  const int64_t m = a.shape(0), k = a.shape(1), n = b.shape(1);
  check_out_shape(out, {m, n});
  check_out(out, "out");
  // Without a bias, `bias` aliases `a` and is never read (a default py::array would allocate
  // an empty NumPy array on every call).
  const bool has_bias = !bias_obj.is_none();
  py::array bias = has_bias ? bias_obj.cast<py::array>() : a;
  if (has_bias) {
    check_same_dtype(a, "a", bias, "bias");
    check_ndim(bias, "bias", 1);
    check_contiguous(bias, "bias");
    if (bias.shape(0) != n)
      throw std::invalid_argument("bias: expected shape (" + std::to_string(n) + ",), got " +
                                  shape_str(bias));
  }
  const auto as = elem_strides(a), bs = elem_strides(b);
  const auto act = relu ? cpu::Activation::kRelu : cpu::Activation::kNone;
  dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* pa = in_ptr<T>(a);
    const T* pb = in_ptr<T>(b);
    const T* pbias = has_bias ? in_ptr<T>(bias) : nullptr;
    T* pc = out_ptr<T>(out);
    py::gil_scoped_release nogil;
    cpu::gemm<T>(pa, as[0], as[1], pb, bs[0], bs[1], pc, n, m, n, k, pbias, act);
  });
}

// out (*batch, m, n) = a (*batch, m, k) @ b (*batch, k, n); batch dims already broadcast
// (stride-0 views are fine).
void gemm_batched(const py::array& a, const py::array& b, py::array& out) {
  const DType dt = float_dtype(a, "a");
  check_same_dtype(a, "a", b, "b");
  check_same_dtype(a, "a", out, "out");
  if (a.ndim() < 2 || a.ndim() != b.ndim())
    throw std::invalid_argument("gemm_batched: a and b need the same number (>= 2) of dims, got " +
                                shape_str(a) + " and " + shape_str(b));
  const py::ssize_t nb = a.ndim() - 2;
  for (py::ssize_t d = 0; d < nb; ++d)
    if (a.shape(d) != b.shape(d))
      throw std::invalid_argument("gemm_batched: batch dims differ: a has shape " + shape_str(a) +
                                  " but b has shape " + shape_str(b));
  check_inner(a, b);
  const int64_t m = a.shape(nb), k = a.shape(nb + 1), n = b.shape(nb + 1);
  std::vector<int64_t> want = shape_vec(a);
  want[static_cast<size_t>(nb + 1)] = n;
  check_out_shape(out, want);
  check_out(out, "out");
  const auto as = elem_strides(a), bs = elem_strides(b);
  int64_t batch = 1;
  for (py::ssize_t d = 0; d < nb; ++d) batch *= a.shape(d);
  // Offsets of every batch item, walking the batch multi-index (any strides, 0 included).
  std::vector<int64_t> a_off(static_cast<size_t>(batch)), b_off(static_cast<size_t>(batch));
  std::vector<int64_t> idx(static_cast<size_t>(nb), 0);
  int64_t ao = 0, bo = 0;
  for (int64_t t = 0; t < batch; ++t) {
    a_off[static_cast<size_t>(t)] = ao;
    b_off[static_cast<size_t>(t)] = bo;
    for (py::ssize_t d = nb - 1; d >= 0; --d) {
      const auto du = static_cast<size_t>(d);
      ao += as[du];
      bo += bs[du];
      if (++idx[du] < a.shape(d)) break;
      ao -= as[du] * a.shape(d);
      bo -= bs[du] * a.shape(d);
      idx[du] = 0;
    }
  }
  const auto s = static_cast<size_t>(nb);
  dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* pa = in_ptr<T>(a);
    const T* pb = in_ptr<T>(b);
    T* pc = out_ptr<T>(out);
    py::gil_scoped_release nogil;
    cpu::gemm_batched<T>(pa, a_off.data(), as[s], as[s + 1], pb, b_off.data(), bs[s], bs[s + 1],
                         pc, batch, m, n, k);
  });
}

// out (n,) = column sums of gy (m, n)
void bias_grad(const py::array& gy, py::array& out) {
  const DType dt = float_dtype(gy, "gy");
  check_same_dtype(gy, "gy", out, "out");
  check_ndim(gy, "gy", 2);
  const int64_t m = gy.shape(0), n = gy.shape(1);
  check_out_shape(out, {n});
  check_out(out, "out");
  const auto gs = elem_strides(gy);
  dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* pg = in_ptr<T>(gy);
    T* po = out_ptr<T>(out);
    py::gil_scoped_release nogil;
    cpu::bias_grad<T>(pg, po, m, n, gs[0], gs[1]);
  });
}

}  // namespace

void bind_matmul(py::module_& m) {
  m.def("gemm", &gemm, py::arg("a").noconvert(), py::arg("b").noconvert(),
        py::arg("out").noconvert(), py::arg("bias") = py::none(), py::arg("relu") = false,
        "out (m, n) = a (m, k) @ b (k, n) [+ bias (n,)] [then relu], fused in the GEMM's store "
        "step; a, b any strided views, out C-contiguous.");
  m.def("gemm_batched", &gemm_batched, py::arg("a").noconvert(), py::arg("b").noconvert(),
        py::arg("out").noconvert(),
        "out (*B, m, n) = a (*B, m, k) @ b (*B, k, n) with equal (already broadcast) batch dims.");
  m.def("bias_grad", &bias_grad, py::arg("gy").noconvert(), py::arg("out").noconvert(),
        "out (n,) = column sums of gy (m, n), one pass.");
  m.def("gemm_isa", &cpu::gemm_isa,
        "GEMM path in use: 'avx512', 'avx2' or 'base' (FUSEGRAD_GEMM_ISA forces one).");
  m.def("gemm_f32_lanes", &cpu::gemm_f32_lanes, "float32 lanes per FMA vector on the GEMM path.");
  m.def("gemm_fma_peak_gflops", &cpu::gemm_fma_peak_gflops,
        "float32 FMA throughput of one core on the GEMM path (GFLOP/s), for peak estimates.");
}

}  // namespace fg::bind
