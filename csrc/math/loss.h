// Loss and softmax per-element pieces shared by the CPU kernels (csrc/cpu/loss.cpp) and the
// CUDA kernels: a vectorisable exp, log-sum-exp, softmax cross-entropy per row (label
// smoothing, class weights), NLL, binary cross-entropy with logits, squared error.
#pragma once

#include "math/hd.h"

namespace fg {
namespace math {

// ---- bit casts (host: __builtin_memcpy folds to a register move; device: intrinsics) --------
FG_HD float bits_to_float(int i) {
#if defined(__CUDACC__)
  return __int_as_float(i);
#else
  float f;
  __builtin_memcpy(&f, &i, sizeof f);
  return f;
#endif
}
FG_HD int float_to_bits(float f) {
#if defined(__CUDACC__)
  return __float_as_int(f);
#else
  int i;
  __builtin_memcpy(&i, &f, sizeof i);
  return i;
#endif
}
FG_HD double bits_to_double(long long i) {
#if defined(__CUDACC__)
  return __longlong_as_double(i);
#else
  double d;
  __builtin_memcpy(&d, &i, sizeof d);
  return d;
#endif
}
FG_HD long long double_to_bits(double d) {
#if defined(__CUDACC__)
  return __double_as_longlong(d);
#else
  long long i;
  __builtin_memcpy(&i, &d, sizeof i);
  return i;
#endif
}

// Note [exp_poly]
// exp(x) written with plain arithmetic so that compilers vectorise loops over it (glibc's expf
// is a scalar call unless -ffast-math). Cody-Waite range reduction x = n·ln2 + r, |r| <= ln2/2:
//   n = round(x·log2 e) via the 1.5·2^p "magic number" add (round-to-nearest without floor(),
//       and the low bits of the sum are n itself, so no float->int conversion is needed),
//   r = x - n·ln2_hi - n·ln2_lo  (ln2_hi has trailing zero bits, so n·ln2_hi is exact),
//   exp(r) = Taylor series of degree 7 (float) / 13 (double): the truncation error
//       |r|^8/8! <= 5e-9 (float), |r|^14/14! <= 5e-18 (double) is below half an ulp,
//   2^n built directly in the exponent field.
// Accuracy: about 1-2 ulp (checked against libm in tests/backend/test_loss_kernels.py).
// Range: inputs below ln(smallest normal) give 0 (no subnormals); inputs above 88 (float) /
// 709 (double) are clamped there, so callers pass x <= 0 (softmax uses z - max). NaN stays NaN.
FG_HD float exp_poly(float x) {
  const float lo = -87.33654f, hi = 88.0f;
  const float magic = 12582912.0f;  // 1.5 * 2^23
  const float xc = x < lo ? lo : (x > hi ? hi : x);
  const float t = xc * 1.44269504088896341f + magic;
  const float n = t - magic;
  const int ni = float_to_bits(t) - float_to_bits(magic);
  const float r = (xc - n * 0.693145751953125f) - n * 1.428606765330187e-06f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const float e = p * bits_to_float((ni + 127) << 23);
  return x < lo ? 0.0f : e;
}

FG_HD double exp_poly(double x) {
  const double lo = -708.3964185322641, hi = 709.0;
  const double magic = 6755399441055744.0;  // 1.5 * 2^52
  const double xc = x < lo ? lo : (x > hi ? hi : x);
  const double t = xc * 1.4426950408889634 + magic;
  const double n = t - magic;
  const long long ni = double_to_bits(t) - double_to_bits(magic);
  const double r = (xc - n * 0.6931471803691238) - n * 1.9082149292705877e-10;
  double p = 1.0 / 6227020800.0;  // 1/13!
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  const double e = p * bits_to_double((ni + 1023) << 52);
  return x < lo ? 0.0 : e;
}

// ---- log-sum-exp / softmax -------------------------------------------------------------------
// Stable log Σ exp(z_c) of a row from its max m and s = Σ exp(z_c - m) (1 <= s <= C):
//   lse = m + log s. Finite for any finite logits (±1e4 included).
template <class T>
FG_HD T logsumexp_finish(T m, T s) {
  return m + hd_log(s);
}

// Softmax backward of one element: gx = y · (gy - Σ_c gy_c·y_c).
template <class T>
FG_HD T softmax_backward(T y, T gy, T dot) {
  return y * (gy - dot);
}

// Log-softmax backward of one element: y = z - lse, gx = gy - softmax · Σ_c gy_c.
template <class T>
FG_HD T log_softmax_backward(T y, T gy, T sum_gy) {
  return gy - exp_poly(y) * sum_gy;
}

// ---- softmax cross-entropy (integer labels) --------------------------------------------------
// Note [cross-entropy with label smoothing and weights]
// PyTorch's definition for row i with label y, class weights w (w = 1 without weight),
// smoothing ε over C classes and log-probabilities lp_c = z_c - lse:
//   loss_i = (1-ε)·w_y·(-lp_y) + (ε/C)·Σ_c w_c·(-lp_c)
//          = (1-ε)·w_y·(lse - z_y) + (ε/C)·(W·lse - Σ_c w_c z_c),   W = Σ_c w_c;
// an ignored row (y == ignore_index) has loss 0 and weight 0. Reduction "mean" divides the sum
// of row losses by Σ_{rows not ignored} w_y (NaN when every row is ignored, as in PyTorch).
// Gradient, with upstream g_i (already divided by that denominator for "mean"), p_c = softmax:
//   ∂loss_i/∂z_c = g_i · (a_i·p_c - (ε/C)·w_c - [c == y]·(1-ε)·w_y),  a_i = (1-ε)·w_y + (ε/C)·W.
template <class T>
FG_HD T cross_entropy_row_loss(T lse, T z_y, T w_y, T sum_wz, T w_total, T smoothing,
                               T n_classes) {
  T loss = (T(1) - smoothing) * w_y * (lse - z_y);
  if (smoothing != T(0)) loss += smoothing / n_classes * (w_total * lse - sum_wz);
  return loss;
}

// a_i of the gradient formula above.
template <class T>
FG_HD T cross_entropy_row_coeff(T w_y, T w_total, T smoothing, T n_classes) {
  return (T(1) - smoothing) * w_y + smoothing / n_classes * w_total;
}

// One logit's gradient without the label term: g·(a·exp(z - lse) - (ε/C)·w_c).
// The label column then subtracts cross_entropy_label_term.
template <class T>
FG_HD T cross_entropy_backward(T z, T lse, T a, T smooth_w, T g) {
  return g * (a * exp_poly(z - lse) - smooth_w);
}

template <class T>
FG_HD T cross_entropy_label_term(T w_y, T smoothing, T g) {
  return g * (T(1) - smoothing) * w_y;
}

// ---- NLL ---------------------------------------------------------------------------------------
// loss_i = -w_y · x_{i,y} (x holds log-probabilities); ∂/∂x_{i,y} = -w_y·g_i, 0 elsewhere.
template <class T>
FG_HD T nll_row_loss(T x_y, T w_y) {
  return -w_y * x_y;
}

// ---- binary cross-entropy with logits ----------------------------------------------------------
// With pos_weight q and c = 1 + (q - 1)·t (c = 1 without pos_weight):
//   loss = (1 - t)·z + c·softplus(-z),  softplus(-z) = log1p(exp(-|z|)) + max(-z, 0)  (stable),
//   ∂loss/∂z = (1 - t) - c·sigmoid(-z).
template <class T>
FG_HD T bce_with_logits_forward(T z, T t, T q) {
  const T c = T(1) + (q - T(1)) * t;
  const T sp = hd_log1p(hd_exp(-hd_abs(z))) + hd_max(-z, T(0));
  return (T(1) - t) * z + c * sp;
}

template <class T>
FG_HD T bce_with_logits_backward(T z, T t, T q, T g) {
  const T c = T(1) + (q - T(1)) * t;
  const T e = hd_exp(-hd_abs(z));                                   // in (0, 1]
  const T sig_neg = z >= T(0) ? e / (T(1) + e) : T(1) / (T(1) + e);  // sigmoid(-z)
  return g * ((T(1) - t) - c * sig_neg);
}

// ---- squared error -----------------------------------------------------------------------------
// loss = (x - t)², ∂loss/∂x = 2(x - t)·g (∂/∂t is its negative).
template <class T>
FG_HD T mse_forward(T x, T t) {
  const T d = x - t;
  return d * d;
}

template <class T>
FG_HD T mse_backward(T x, T t, T g) {
  return T(2) * (x - t) * g;
}

}  // namespace math
}  // namespace fg
