// Loss CUDA kernels: softmax / log-softmax, fused softmax cross-entropy, NLL, BCE with logits,
// squared error. Same contracts as csrc/cpu/loss.h; per-element math: csrc/math/loss.h
// (exp_poly, log-sum-exp, Note [cross-entropy with label smoothing and weights]).
// Row kernels: C-contiguous (rows, classes), one block per row (grid-stride over rows),
// kRowBlock threads. Elementwise kernels: n contiguous values, 1-D kBlock launch.
//   softmax_forward_<t>(x, y, rows, classes)             y = exp(x - max) / Σ exp(x - max)
//   log_softmax_forward_<t>(x, y, rows, classes)         y = x - lse
//   softmax_backward_<t>(y, gy, gx, rows, classes)       gx = y (gy - Σ gy·y)
//   log_softmax_backward_<t>(y, gy, gx, rows, classes)   gx = gy - exp(y) · Σ gy
//   softmax_cross_entropy_forward_<t>(z, labels, weight, loss, row_weight, lse, rows, classes,
//                                     ignore_index, smoothing)
//       per row: loss[i] (0 when ignored), row_weight[i] = w_y (0 when ignored) and lse[i]; the
//       sums (Σ loss, Σ row_weight = the "mean" denominator) are reductions done by the caller.
//   softmax_cross_entropy_backward_<t>(z, labels, weight, lse, gy, gy_stride, gx, rows,
//                                      classes, ignore_index, smoothing, scale, scale_ptr)
//       gx[i, :] = ∂loss_i/∂z · g_i,  g_i = gy[i·gy_stride]·scale·(scale_ptr ? *scale_ptr : 1)
//       (gy_stride 0: one upstream value; scale_ptr: a device scalar such as 1/Σw, so "mean"
//       needs no host round trip). Ignored rows get 0.
//   nll_loss_forward_<t>(x, labels, weight, loss, row_weight, rows, classes, ignore_index)
//   nll_loss_backward_<t>(labels, weight, gy, gy_stride, gx, rows, classes, ignore_index,
//                         scale, scale_ptr)              gx = 0 except gx[i, y] = -w_y·g_i
//   bce_with_logits_forward_<t>(z, t, pos_weight, loss, n)
//   bce_with_logits_backward_<t>(z, t, pos_weight, gy, gy_stride, gx, n, scale, scale_ptr)
//   mse_loss_forward_<t>(x, t, loss, n)
//   mse_loss_backward_<t>(x, t, gy, gy_stride, gx, gt, n, scale, scale_ptr)  gt may be null
// weight / pos_weight may be null (ones). Labels are int64; see Note [bad labels on the GPU].
#include "cuda/common.cuh"
#include "math/loss.h"

namespace fg {
namespace cuda {

// Note [bad labels on the GPU]
// The CPU raises IndexError for a label outside [0, classes) that is not ignore_index. A kernel
// cannot raise without a host round trip, so such a row reads nothing out of bounds and gets
// NaN (loss, weight and gradient): the error shows in the loss instead of corrupting memory.
// backend/cuda.py checks the labels on the host (IndexError, as the CPU) in FUSEGRAD_CUDA_SYNC
// mode.
template <class T>
__device__ __forceinline__ T quiet_nan() {
  return math::hd_infinity<T>() - math::hd_infinity<T>();
}

// lse of row z (classes values): max first, then Σ exp_poly(z - max) (stable for ±1e4).
template <class T>
__device__ __forceinline__ T row_lse(const T* z, long long classes, T* scratch) {
  using fg::math::exp_poly;
  T mx = -math::hd_infinity<T>();
  for (long long j = threadIdx.x; j < classes; j += blockDim.x)
    mx = math::MaxReduce::combine(mx, z[j]);
  mx = block_reduce<math::MaxReduce>(mx, -math::hd_infinity<T>(), scratch);
  T s = T(0);
  for (long long j = threadIdx.x; j < classes; j += blockDim.x) s += exp_poly(z[j] - mx);
  s = block_reduce<math::SumReduce>(s, T(0), scratch);
  return fg::math::logsumexp_finish(mx, s);
}

template <class T, bool kLog>
__device__ __forceinline__ void softmax_forward(const T* z, T* y, long long rows,
                                                long long classes) {
  using fg::math::exp_poly;
  __shared__ T scratch[33];
  for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* zr = z + r * classes;
    T* yr = y + r * classes;
    T mx = -math::hd_infinity<T>();
    for (long long j = threadIdx.x; j < classes; j += blockDim.x)
      mx = math::MaxReduce::combine(mx, zr[j]);
    mx = block_reduce<math::MaxReduce>(mx, -math::hd_infinity<T>(), scratch);
    T s = T(0);
    for (long long j = threadIdx.x; j < classes; j += blockDim.x) s += exp_poly(zr[j] - mx);
    s = block_reduce<math::SumReduce>(s, T(0), scratch);
    if (kLog) {
      const T lse = fg::math::logsumexp_finish(mx, s);
      for (long long j = threadIdx.x; j < classes; j += blockDim.x) yr[j] = zr[j] - lse;
    } else {  // as the CPU: exp(z - max) times 1/Σ
      const T inv = T(1) / s;
      for (long long j = threadIdx.x; j < classes; j += blockDim.x)
        yr[j] = exp_poly(zr[j] - mx) * inv;
    }
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
    s = block_reduce<math::SumReduce>(s, T(0), scratch);
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
      sum_wz = block_reduce<math::SumReduce>(a, T(0), scratch);
      w_total = block_reduce<math::SumReduce>(b, T(0), scratch);
    }
    if (threadIdx.x == 0) {
      const long long y = target[r];
      lse_out[r] = lse;
      if (y == ignore_index) {
        loss[r] = T(0);
        row_weight[r] = T(0);
      } else if (y < 0 || y >= classes) {  // see Note [bad labels on the GPU]
        loss[r] = quiet_nan<T>();
        row_weight[r] = quiet_nan<T>();
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
                                                       long long ignore_index, T smoothing,
                                                       T scale, const T* scale_ptr) {
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
      w_total = block_reduce<math::SumReduce>(b, T(0), scratch);
    }
    if (y == ignore_index || y < 0 || y >= classes) {
      const T fill = y == ignore_index ? T(0) : quiet_nan<T>();
      for (long long j = threadIdx.x; j < classes; j += blockDim.x) out[j] = fill;
      continue;
    }
    const T gi = g[r * g_stride] * scale * (scale_ptr ? scale_ptr[0] : T(1));
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

template <class T>
__device__ __forceinline__ void nll_forward(const T* x, const long long* labels, const T* weight,
                                            T* loss, T* row_weight, long long rows,
                                            long long classes, long long ignore_index) {
  FG_GRID_STRIDE_LOOP(r, rows) {
    const long long y = labels[r];
    if (y == ignore_index) {
      loss[r] = T(0);
      row_weight[r] = T(0);
    } else if (y < 0 || y >= classes) {
      loss[r] = quiet_nan<T>();
      row_weight[r] = quiet_nan<T>();
    } else {
      const T w_y = weight ? weight[y] : T(1);
      loss[r] = fg::math::nll_row_loss(x[r * classes + y], w_y);
      row_weight[r] = w_y;
    }
  }
}

// gx is written whole: zeros, and -w_y·g_i at the label (one thread per element).
template <class T>
__device__ __forceinline__ void nll_backward(const long long* labels, const T* weight,
                                             const T* gy, long long gy_stride, T* gx,
                                             long long rows, long long classes,
                                             long long ignore_index, T scale,
                                             const T* scale_ptr) {
  const T s = scale * (scale_ptr ? scale_ptr[0] : T(1));
  FG_GRID_STRIDE_LOOP(i, rows * classes) {
    const long long r = i / classes, c = i - r * classes;
    const long long y = labels[r];
    T v = T(0);
    if (y != ignore_index && (y < 0 || y >= classes))
      v = quiet_nan<T>();
    else if (c == y)
      v = -(weight ? weight[y] : T(1)) * (gy[r * gy_stride] * s);
    gx[i] = v;
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
  extern "C" __global__ void softmax_cross_entropy_forward_##sfx(                              \
      const T* z, const long long* labels, const T* weight, T* loss, T* row_weight, T* lse,    \
      long long rows, long long classes, long long ignore_index, T smoothing) {                \
    fg::cuda::cross_entropy_forward<T>(z, labels, weight, loss, row_weight, lse, rows, classes, \
                                       ignore_index, smoothing);                               \
  }                                                                                             \
  extern "C" __global__ void softmax_cross_entropy_backward_##sfx(                             \
      const T* z, const long long* labels, const T* weight, const T* lse, const T* gy,         \
      long long gy_stride, T* gx, long long rows, long long classes, long long ignore_index,   \
      T smoothing, T scale, const T* scale_ptr) {                                              \
    fg::cuda::cross_entropy_backward<T>(z, labels, weight, lse, gy, gy_stride, gx, rows,       \
                                        classes, ignore_index, smoothing, scale, scale_ptr);   \
  }                                                                                             \
  extern "C" __global__ void nll_loss_forward_##sfx(                                           \
      const T* x, const long long* labels, const T* weight, T* loss, T* row_weight,            \
      long long rows, long long classes, long long ignore_index) {                             \
    fg::cuda::nll_forward<T>(x, labels, weight, loss, row_weight, rows, classes, ignore_index); \
  }                                                                                             \
  extern "C" __global__ void nll_loss_backward_##sfx(                                          \
      const long long* labels, const T* weight, const T* gy, long long gy_stride, T* gx,       \
      long long rows, long long classes, long long ignore_index, T scale, const T* scale_ptr) { \
    fg::cuda::nll_backward<T>(labels, weight, gy, gy_stride, gx, rows, classes, ignore_index,  \
                              scale, scale_ptr);                                               \
  }                                                                                             \
  extern "C" __global__ void bce_with_logits_forward_##sfx(const T* z, const T* t,             \
                                                           const T* pos_weight, T* loss,       \
                                                           long long n) {                      \
    FG_GRID_STRIDE_LOOP(i, n)                                                                  \
    loss[i] = fg::math::bce_with_logits_forward(z[i], t[i], pos_weight ? pos_weight[i] : T(1)); \
  }                                                                                             \
  extern "C" __global__ void bce_with_logits_backward_##sfx(                                   \
      const T* z, const T* t, const T* pos_weight, const T* gy, long long gy_stride, T* gx,    \
      long long n, T scale, const T* scale_ptr) {                                              \
    const T s = scale * (scale_ptr ? scale_ptr[0] : T(1));                                     \
    FG_GRID_STRIDE_LOOP(i, n)                                                                  \
    gx[i] = fg::math::bce_with_logits_backward(z[i], t[i], pos_weight ? pos_weight[i] : T(1),  \
                                               gy[i * gy_stride] * s);                         \
  }                                                                                             \
  extern "C" __global__ void mse_loss_forward_##sfx(const T* x, const T* t, T* loss,           \
                                                    long long n) {                             \
    FG_GRID_STRIDE_LOOP(i, n) loss[i] = fg::math::mse_forward(x[i], t[i]);                     \
  }                                                                                             \
  extern "C" __global__ void mse_loss_backward_##sfx(const T* x, const T* t, const T* gy,      \
                                                     long long gy_stride, T* gx, T* gt,        \
                                                     long long n, T scale,                     \
                                                     const T* scale_ptr) {                     \
    const T s = scale * (scale_ptr ? scale_ptr[0] : T(1));                                     \
    FG_GRID_STRIDE_LOOP(i, n) {                                                                \
      const T g = fg::math::mse_backward(x[i], t[i], gy[i * gy_stride] * s);                   \
      gx[i] = g;                                                                               \
      if (gt) gt[i] = -g;                                                                      \
    }                                                                                          \
  }

FG_CUDA_F32(FG_CUDA_LOSS_KERNELS_T(float, f32))
FG_CUDA_F64(FG_CUDA_LOSS_KERNELS_T(double, f64))
