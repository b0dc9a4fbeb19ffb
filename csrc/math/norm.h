// Batch-norm per-element pieces shared by the CPU kernels (csrc/cpu/norm.cpp) and the CUDA
// kernels: statistics combine, normalise + affine, running-stat update, and the gradient terms.
//
// Notation (PyTorch's BatchNorm1d): x has M = N*L values per channel c,
//   mean = Σx / M,  var = Σ(x - mean)² / M (biased, used to normalise),
//   invstd = 1 / sqrt(var + eps),  x̂ = (x - mean) * invstd,  y = γ x̂ + β.
// Running stats (training): r ← (1 - f) r + f * stat, with the unbiased var·M/(M-1) for r_var,
// f = momentum, or 1/num_batches_tracked for momentum=None (cumulative average).
#pragma once

#include "math/hd.h"

namespace fg {
namespace math {

// Note [batch-norm statistics]
// Statistics are two-pass: a first pass gives a provisional mean m', the second accumulates
// d = x - m' as Σd and Σd², and then mean = m' + Σd/M, var = Σd²/M - (Σd/M)² (the corrected
// two-pass algorithm). Unlike the one-pass Σx² - M·mean² form it stays accurate when
// |mean| >> std. Partial sums are accumulated in T over short blocks and folded into double,
// so float32 rounding grows with the block length, not with M.
FG_HD void bn_stats_finish(double provisional_mean, double sum_d, double sum_d2, double count,
                           double* mean, double* var) {
  const double md = sum_d / count;
  *mean = provisional_mean + md;
  const double v = sum_d2 / count - md * md;
  *var = v > 0.0 ? v : 0.0;
}

// invstd = 1 / sqrt(var + eps).
FG_HD double bn_invstd(double var, double eps) { return 1.0 / hd_sqrt(var + eps); }

// Running-stat update: old * (1 - f) + stat * f (PyTorch: momentum 0.1 → new·0.1 + old·0.9).
template <class T>
FG_HD T bn_running_update(T old, double stat, double factor) {
  return static_cast<T>(static_cast<double>(old) * (1.0 - factor) + stat * factor);
}

// Forward of one element: y = (x - mean) * scale + beta with scale = γ·invstd (γ = 1, β = 0
// without affine). NOTE: subtracting the mean before scaling keeps y accurate when
// |mean| >> std; the folded x·scale + (β - mean·scale) form loses |mean|/std ulps.
template <class T>
FG_HD T bn_apply(T x, T mean, T scale, T beta) {
  return (x - mean) * scale + beta;
}

// Backward, training mode (batch statistics). With Sdy = Σdy and Sdyx = Σ dy·(x - mean)
// over the channel's M values:
//   dβ = Sdy,   dγ = Sdyx · invstd,
//   dx = γ·invstd · (dy - Sdy/M - x̂ · invstd·Sdyx/M)
//      = dy·k + (x - mean)·a + b   with  k = γ·invstd,  a = -k·invstd²·Sdyx/M,  b = -k·Sdy/M.
// (The mean and variance depend on x; the two subtracted terms are their contributions.)
// In eval mode the statistics are constants: dx = dy·γ·invstd, i.e. a = b = 0.
template <class T>
FG_HD void bn_backward_coeffs(double sum_dy, double sum_dy_xmu, double invstd, double gamma,
                              double count, bool batch_stats, T* k, T* a, T* b) {
  const double kk = gamma * invstd;
  *k = static_cast<T>(kk);
  *a = static_cast<T>(batch_stats ? -kk * invstd * invstd * sum_dy_xmu / count : 0.0);
  *b = static_cast<T>(batch_stats ? -kk * sum_dy / count : 0.0);
}

// dx of one element: dy·k + (x - mean)·a + b (coefficients from bn_backward_coeffs).
template <class T>
FG_HD T bn_backward_input(T x, T dy, T mean, T k, T a, T b) {
  return dy * k + (x - mean) * a + b;
}

}  // namespace math
}  // namespace fg
