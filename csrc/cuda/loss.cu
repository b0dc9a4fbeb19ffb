// Softmax / log-softmax and softmax cross-entropy CUDA kernels, one block per row
// (grid-stride over rows, kRowBlock threads). Per-element math: csrc/math/loss.h
// (exp_poly, log-sum-exp, Note [cross-entropy with label smoothing and weights]).
// Every input is C-contiguous (rows, classes); outputs are fresh C-contiguous arrays.
//   softmax_forward_<t>(z, y, rows, classes)          y = exp(z - lse) per row
//   log_softmax_forward_<t>(z, y, rows, classes)      y = z - lse
//   softmax_backward_<t>(y, gy, gz, rows, classes)    gz = y (gy - Σ gy·y)
//   log_softmax_backward_<t>(y, gy, gz, rows, classes) gz = gy - softmax · Σ gy
//   cross_entropy_forward_<t>(z, target, weight, loss, row_weight, lse, rows, classes,
//                             ignore_index, smoothing)
//       per row: loss[i] (unreduced), row_weight[i] = w_y (0 for an ignored row), lse[i]
//       (saved for the backward). target is int64; weight (classes) may be null (w = 1).
//       Python reduces: sum, or Σ loss / Σ row_weight for "mean".
//   cross_entropy_backward_<t>(z, target, weight, lse, g, g_stride, gz, rows, classes,
//                              ignore_index, smoothing)
//       gz[i, c] = ∂loss_i/∂z_c · g[i·g_stride] (g_stride = 0: one upstream value for every
//       row, already divided by the "mean" denominator). Ignored rows get 0.
// Out-of-range targets are the caller's check (Python validates before launching).
#include "cuda/common.cuh"
#include "math/loss.h"

namespace fg {
namespace cuda {

__device__ __forceinline__ float lowest(float) { return __int_as_float(0xff800000); }
__device__ __forceinline__ double lowest(double) {
  return __longlong_as_double(static_cast<long long>(0xfff0000000000000ULL));
}

// lse of row z (classes values): max first, then Σ exp_poly(z - max) (stable for ±1e4).
template <class T>
__device__ __forceinline__ T row_lse(const T* z, long long classes, T* scratch) {
  using fg::math::exp_poly;
  T mx = lowest(T(0));
  for (long long j = threadIdx.x; j < classes; j += blockDim.x) mx = MaxOp::combine(mx, z[j]);
  mx = block_reduce<MaxOp>(mx, lowest(T(0)), scratch);
  T s = T(0);
  for (long long j = threadIdx.x; j < classes; j += blockDim.x) s += exp_poly(z[j] - mx);
  s = block_reduce<SumOp>(s, T(0), scratch);
  return fg::math::logsumexp_finish(mx, s);
}

template <class T, bool kLog>
__device__ __forceinline__ void softmax_forward(const T* z, T* y, long long rows,
                                                long long classes) {
  __shared__ T scratch[33];
  for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* zr = z + r * classes;
    T* yr = y + r * classes;
    const T lse = row_lse(zr, classes, scratch);
    for (long long j = threadIdx.x; j < classes; j += blockDim.x)
      yr[j] = kLog ? zr[j] - lse : fg::math::exp_poly(zr[j] - lse);
  }
}

template <class T, bool kLog>
__device__ __forceinline__ void softmax_backward(const T* y, const T* gy, T* gz, long long rows,
                                                 long long classes) {
  __shared__ T scratch[33];
  for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* yr = y + r * classes;
    const T* gr = gy + r * classes;
    T* out = gz + r * classes;
    T s = T(0);  // Σ gy (log-softmax) or Σ gy·y (softmax)
    for (long long j = threadIdx.x; j < classes; j += blockDim.x) s += kLog ? gr[j] : gr[j] * yr[j];
    s = block_reduce<SumOp>(s, T(0), scratch);
    for (long long j = threadIdx.x; j < classes; j += blockDim.x)
      out[j] = kLog ? fg::math::log_softmax_backward(yr[j], gr[j], s)
                    : fg::math::softmax_backward(yr[j], gr[j], s);
  }
}

template <class T>
__device__ __forceinline__ void cross_entropy_forward(const T* z, const long long* target,
                                                      const T* weight, T* loss, T* row_weight,
                                                      T* lse_out, long long rows,
                                                      long long classes, long long ignore_index,
                                                      T smoothing) {
  __shared__ T scratch[33];
  const T n_classes = static_cast<T>(classes);
  for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* zr = z + r * classes;
    const T lse = row_lse(zr, classes, scratch);
    T sum_wz = T(0), w_total = T(0);
    if (smoothing != T(0)) {
      T a = T(0), b = T(0);
      for (long long j = threadIdx.x; j < classes; j += blockDim.x) {
        const T w = weight ? weight[j] : T(1);
        a += w * zr[j];
        b += w;
      }
      sum_wz = block_reduce<SumOp>(a, T(0), scratch);
      w_total = block_reduce<SumOp>(b, T(0), scratch);
    }
    if (threadIdx.x == 0) {
      const long long y = target[r];
      lse_out[r] = lse;
      if (y == ignore_index) {
        loss[r] = T(0);
        row_weight[r] = T(0);
      } else {
        const T w_y = weight ? weight[y] : T(1);
        loss[r] = fg::math::cross_entropy_row_loss(lse, zr[y], w_y, sum_wz, w_total, smoothing,
                                                   n_classes);
        row_weight[r] = w_y;
      }
    }
  }
}

template <class T>
__device__ __forceinline__ void cross_entropy_backward(const T* z, const long long* target,
                                                       const T* weight, const T* lse,
                                                       const T* g, long long g_stride, T* gz,
                                                       long long rows, long long classes,
                                                       long long ignore_index, T smoothing) {
  __shared__ T scratch[33];
  const T n_classes = static_cast<T>(classes);
  for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* zr = z + r * classes;
    T* out = gz + r * classes;
    const long long y = target[r];
    T w_total = T(0);
    if (smoothing != T(0)) {
      T b = T(0);
      for (long long j = threadIdx.x; j < classes; j += blockDim.x) b += weight ? weight[j] : T(1);
      w_total = block_reduce<SumOp>(b, T(0), scratch);
    }
    if (y == ignore_index) {
      for (long long j = threadIdx.x; j < classes; j += blockDim.x) out[j] = T(0);
      continue;
    }
    const T gi = g[r * g_stride];
    const T w_y = weight ? weight[y] : T(1);
    const T a = fg::math::cross_entropy_row_coeff(w_y, w_total, smoothing, n_classes);
    const T l = lse[r];
    for (long long j = threadIdx.x; j < classes; j += blockDim.x) {
      const T smooth_w = smoothing / n_classes * (weight ? weight[j] : T(1));
      T v = fg::math::cross_entropy_backward(zr[j], l, a, smooth_w, gi);
      if (j == y) v -= fg::math::cross_entropy_label_term(w_y, smoothing, gi);
      out[j] = v;
    }
  }
}

}  // namespace cuda
}  // namespace fg

#define FG_CUDA_LOSS_KERNELS_T(T, sfx)                                                          \
  extern "C" __global__ void softmax_forward_##sfx(const T* z, T* y, long long rows,           \
                                                   long long classes) {                        \
    fg::cuda::softmax_forward<T, false>(z, y, rows, classes);                                  \
  }                                                                                             \
  extern "C" __global__ void log_softmax_forward_##sfx(const T* z, T* y, long long rows,       \
                                                       long long classes) {                    \
    fg::cuda::softmax_forward<T, true>(z, y, rows, classes);                                   \
  }                                                                                             \
  extern "C" __global__ void softmax_backward_##sfx(const T* y, const T* gy, T* gz,            \
                                                    long long rows, long long classes) {       \
    fg::cuda::softmax_backward<T, false>(y, gy, gz, rows, classes);                            \
  }                                                                                             \
  extern "C" __global__ void log_softmax_backward_##sfx(const T* y, const T* gy, T* gz,        \
                                                        long long rows, long long classes) {   \
    fg::cuda::softmax_backward<T, true>(y, gy, gz, rows, classes);                             \
  }                                                                                             \
  extern "C" __global__ void cross_entropy_forward_##sfx(                                      \
      const T* z, const long long* target, const T* weight, T* loss, T* row_weight, T* lse,    \
      long long rows, long long classes, long long ignore_index, T smoothing) {                \
    fg::cuda::cross_entropy_forward<T>(z, target, weight, loss, row_weight, lse, rows, classes, \
                                       ignore_index, smoothing);                               \
  }                                                                                             \
  extern "C" __global__ void cross_entropy_backward_##sfx(                                     \
      const T* z, const long long* target, const T* weight, const T* lse, const T* g,          \
      long long g_stride, T* gz, long long rows, long long classes, long long ignore_index,    \
      T smoothing) {                                                                           \
    fg::cuda::cross_entropy_backward<T>(z, target, weight, lse, g, g_stride, gz, rows,         \
                                        classes, ignore_index, smoothing);                     \
  }

FG_CUDA_F32(FG_CUDA_LOSS_KERNELS_T(float, f32))
FG_CUDA_F64(FG_CUDA_LOSS_KERNELS_T(double, f64))
