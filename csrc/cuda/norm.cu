// Fused batch-norm CUDA kernels: one forward launch (statistics, normalise + affine, running
// stats) and one backward launch (Σdy, Σdy·(x - mean), dx, dγ, dβ). Same contract and layout
// as csrc/cpu/norm.h: x is C-contiguous (n, c, l) (l = 1 for (N, C) input), channel k's
// m = n·l values are x[i, k, j]. Per-element math: csrc/math/norm.h.
//   batch_norm_forward_<f32|f64>(x, weight, bias, y, save_mean, save_invstd, running_mean,
//                                running_var, n, c, l, batch_stats, momentum_factor, eps)
//   batch_norm_backward_<f32|f64>(x, gy, weight, save_mean, save_invstd, gx, gweight, gbias,
//                                 n, c, l, batch_stats)
// weight, bias, running_*, gx, gweight, gbias may be null (as on CPU). gx may alias gy.
// Launch: one block per channel (grid-stride over channels), kRowBlock threads; the block
// reduces its channel's sums in double (see Note [batch-norm statistics] in math/norm.h: the
// provisional mean is the CPU's, so float32 statistics agree with the CPU to rounding).
#include "cuda/common.cuh"
#include "math/norm.h"

namespace fg {
namespace cuda {

// CPU: kShiftRows in cpu/norm_impl.h (rows averaged for the provisional mean when l == 1).
constexpr long long kShiftRows = 8;

// Offset of the q-th value (q < n·l) of channel k.
__device__ __forceinline__ long long bn_offset(long long q, long long c, long long l,
                                               long long k) {
  const long long i = q / l, j = q - i * l;
  return (i * c + k) * l + j;
}

template <class T>
__device__ void batch_norm_forward(const T* x, const T* weight, const T* bias, T* y,
                                   T* save_mean, T* save_invstd, T* running_mean,
                                   T* running_var, long long n, long long c, long long l,
                                   int batch_stats, double factor, double eps) {
  __shared__ double scratch[33];
  __shared__ T coef[3];  // mean, scale = γ·invstd, β of this channel, as T
  const long long m = n * l;
  const double count = static_cast<double>(m);
  for (long long k = blockIdx.x; k < c; k += gridDim.x) {
    double shift = 0.0, sd = 0.0, sd2 = 0.0;
    if (batch_stats && n > 0) {
      // Provisional mean, as the CPU picks it: the first row of the channel (l > 1) or the
      // first kShiftRows rows (l == 1), averaged in double and rounded to T.
      const long long ns = l > 1 ? l : (n < kShiftRows ? n : kShiftRows);
      double s = 0.0;
      for (long long q = threadIdx.x; q < ns; q += blockDim.x)
        s += static_cast<double>(x[bn_offset(q, c, l, k)]);
      s = block_reduce<math::SumReduce>(s, 0.0, scratch);
      const T shift_t = static_cast<T>(s / static_cast<double>(ns));
      shift = static_cast<double>(shift_t);
      for (long long q = threadIdx.x; q < m; q += blockDim.x) {
        const double d = static_cast<double>(x[bn_offset(q, c, l, k)] - shift_t);
        sd += d;
        sd2 += d * d;
      }
      sd = block_reduce<math::SumReduce>(sd, 0.0, scratch);
      sd2 = block_reduce<math::SumReduce>(sd2, 0.0, scratch);
    }
    if (threadIdx.x == 0) {
      double mean, var;
      if (batch_stats) {
        fg::math::bn_stats_finish(shift, sd, sd2, count, &mean, &var);
        if (running_mean)
          running_mean[k] = fg::math::bn_running_update(running_mean[k], mean, factor);
        if (running_var) {
          const double unbiased = count > 1.0 ? var * count / (count - 1.0) : var;
          running_var[k] = fg::math::bn_running_update(running_var[k], unbiased, factor);
        }
      } else {
        mean = static_cast<double>(running_mean[k]);
        var = static_cast<double>(running_var[k]);
      }
      const double invstd = fg::math::bn_invstd(var, eps);
      save_mean[k] = static_cast<T>(mean);
      save_invstd[k] = static_cast<T>(invstd);
      coef[0] = static_cast<T>(mean);
      coef[1] = static_cast<T>((weight ? static_cast<double>(weight[k]) : 1.0) * invstd);
      coef[2] = bias ? bias[k] : T(0);
    }
    __syncthreads();
    const T mk = coef[0], sk = coef[1], bk = coef[2];
    for (long long q = threadIdx.x; q < m; q += blockDim.x) {
      const long long o = bn_offset(q, c, l, k);
      y[o] = fg::math::bn_apply(x[o], mk, sk, bk);
    }
    __syncthreads();  // coef is rewritten for the next channel
  }
}

template <class T>
__device__ void batch_norm_backward(const T* x, const T* gy, const T* weight,
                                    const T* save_mean, const T* save_invstd, T* gx, T* gweight,
                                    T* gbias, long long n, long long c, long long l,
                                    int batch_stats) {
  __shared__ double scratch[33];
  __shared__ T coef[3];  // k, a, b of bn_backward_coeffs
  const long long m = n * l;
  const double count = static_cast<double>(m);
  for (long long k = blockIdx.x; k < c; k += gridDim.x) {
    const T mk = save_mean[k];
    double sdy = 0.0, sdyx = 0.0;
    for (long long q = threadIdx.x; q < m; q += blockDim.x) {
      const long long o = bn_offset(q, c, l, k);
      const double dy = static_cast<double>(gy[o]);
      sdy += dy;
      sdyx += dy * static_cast<double>(x[o] - mk);
    }
    sdy = block_reduce<math::SumReduce>(sdy, 0.0, scratch);
    sdyx = block_reduce<math::SumReduce>(sdyx, 0.0, scratch);
    if (threadIdx.x == 0) {
      const double invstd = static_cast<double>(save_invstd[k]);
      if (gbias) gbias[k] = static_cast<T>(sdy);
      if (gweight) gweight[k] = static_cast<T>(sdyx * invstd);
      T kk, ak, bk;
      fg::math::bn_backward_coeffs(sdy, sdyx, invstd,
                                   weight ? static_cast<double>(weight[k]) : 1.0, count,
                                   batch_stats != 0, &kk, &ak, &bk);
      coef[0] = kk;
      coef[1] = ak;
      coef[2] = bk;
    }
    __syncthreads();
    if (gx) {
      const T kk = coef[0], ak = coef[1], bk = coef[2];
      for (long long q = threadIdx.x; q < m; q += blockDim.x) {
        const long long o = bn_offset(q, c, l, k);
        gx[o] = fg::math::bn_backward_input(x[o], gy[o], mk, kk, ak, bk);  // gy read first
      }
    }
    __syncthreads();
  }
}

}  // namespace cuda
}  // namespace fg

#define FG_CUDA_NORM_KERNELS_T(T, sfx)                                                          \
  extern "C" __global__ void batch_norm_forward_##sfx(                                         \
      const T* x, const T* weight, const T* bias, T* y, T* save_mean, T* save_invstd,          \
      T* running_mean, T* running_var, long long n, long long c, long long l, int batch_stats, \
      double momentum_factor, double eps) {                                                    \
    fg::cuda::batch_norm_forward<T>(x, weight, bias, y, save_mean, save_invstd, running_mean,  \
                                    running_var, n, c, l, batch_stats, momentum_factor, eps);  \
  }                                                                                             \
  extern "C" __global__ void batch_norm_backward_##sfx(                                        \
      const T* x, const T* gy, const T* weight, const T* save_mean, const T* save_invstd,      \
      T* gx, T* gweight, T* gbias, long long n, long long c, long long l, int batch_stats) {    \
    fg::cuda::batch_norm_backward<T>(x, gy, weight, save_mean, save_invstd, gx, gweight,       \
                                     gbias, n, c, l, batch_stats);                             \
  }

FG_CUDA_F32(FG_CUDA_NORM_KERNELS_T(float, f32))
FG_CUDA_F64(FG_CUDA_NORM_KERNELS_T(double, f64))
