// Batch-norm kernels, baseline x86-64 build, plus the run-time choice of instruction set and
// the public entry points (which allocate the scratch memory; see cpu/norm.h).
#define FG_NORM_ISA isa_baseline
#define FG_NORM_TABLE_F32 norm_kernels_baseline_f32
#define FG_NORM_TABLE_F64 norm_kernels_baseline_f64
#include "cpu/norm_impl.h"
#include "cpu/isa.h"

#include <memory>
#include <vector>

namespace fg::cpu {
namespace {

const Isa kIsa = cpu_isa();

template <class T>
const NormKernels<T>& kernels();
template <>
const NormKernels<float>& kernels<float>() {
  static const NormKernels<float> k =
      pick_isa(norm_kernels_baseline_f32, norm_kernels_v3_f32, norm_kernels_v4_f32);
  return k;
}
template <>
const NormKernels<double>& kernels<double>() {
  static const NormKernels<double> k =
      pick_isa(norm_kernels_baseline_f64, norm_kernels_v3_f64, norm_kernels_v4_f64);
  return k;
}

}  // namespace

const char* norm_isa() {
  return isa_name(kIsa);
}

// Scratch of one call (cpu/norm.h): uninitialised doubles and elements of T, zeroed flags.
template <class T>
struct Scratch {
  std::unique_ptr<double[]> d;
  std::unique_ptr<T[]> t;
  std::vector<uint32_t> flags;
  Scratch(int64_t n, int64_t c, int64_t l, int threads)
      : d(new double[static_cast<size_t>(bn_scratch_doubles(n, c, l, threads))]),
        t(new T[static_cast<size_t>(bn_scratch_elems(n, c, l, threads))]),
        flags(static_cast<size_t>(bn_scratch_flags(n, c, l)), 0u) {}
};

template <class T>
void batch_norm_forward(const T* x, const T* weight, const T* bias, T* y, T* save_mean,
                        T* save_invstd, T* running_mean, T* running_var, int64_t n, int64_t c,
                        int64_t l, bool batch_stats, double momentum_factor, double eps) {
  const int threads = bn_threads(n, c, l, false);
  Scratch<T> s(n, c, l, threads);
  kernels<T>().forward(x, weight, bias, y, save_mean, save_invstd, running_mean, running_var, n,
                       c, l, batch_stats, momentum_factor, eps, threads, s.d.get(), s.t.get(),
                       s.flags.data());
}

template <class T>
void batch_norm_backward(const T* x, const T* gy, const T* weight, const T* save_mean,
                         const T* save_invstd, T* gx, T* gweight, T* gbias, int64_t n, int64_t c,
                         int64_t l, bool batch_stats) {
  const int threads = bn_threads(n, c, l, true);
  Scratch<T> s(n, c, l, threads);
  kernels<T>().backward(x, gy, weight, save_mean, save_invstd, gx, gweight, gbias, n, c, l,
                        batch_stats, threads, s.d.get(), s.t.get(), s.flags.data());
}

#define FG_INSTANTIATE_NORM(T)                                                              \
  template void batch_norm_forward<T>(const T*, const T*, const T*, T*, T*, T*, T*, T*,     \
                                      int64_t, int64_t, int64_t, bool, double, double);     \
  template void batch_norm_backward<T>(const T*, const T*, const T*, const T*, const T*, T*, \
                                       T*, T*, int64_t, int64_t, int64_t, bool);
FG_INSTANTIATE_NORM(float)
FG_INSTANTIATE_NORM(double)
#undef FG_INSTANTIATE_NORM

}  // namespace fg::cpu
