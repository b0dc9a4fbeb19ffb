// The softmax / cross-entropy row loops, compiled once per instruction set: loss.cpp
// (baseline x86-64), loss_v3.cpp and loss_v4.cpp each define FG_LOSS_ISA (a namespace name)
// and FG_LOSS_TABLE_F32/F64 and include this file. Contracts: cpu/loss.h; math: math/loss.h.
//
// Each row (contiguous, length c) is handled by one thread; rows are split between threads.
// Row reductions (max, Σexp, Σ) use kLanes independent accumulators, because the compiler
// vectorises a floating-point reduction only when it may reassociate (-ffast-math); the
// exponential is fg::math::exp_poly (Note [exp_poly]), which vectorises where libm's does not.
#if !defined(FG_LOSS_ISA) || !defined(FG_LOSS_TABLE_F32) || !defined(FG_LOSS_TABLE_F64)
#error "define FG_LOSS_ISA, FG_LOSS_TABLE_F32 and FG_LOSS_TABLE_F64 before including"
#endif

#include <stdint.h>

#include "cpu/loss.h"
#include "cpu/parallel.h"
#include "math/loss.h"

namespace fg::cpu::FG_LOSS_ISA {
namespace {

namespace fm = fg::math;

constexpr int kLanes = 16;

template <class T>
T row_max(const T* __restrict z, int64_t c) {
  T lm[kLanes];
  const T first = c > 0 ? z[0] : T(0);
  for (int j = 0; j < kLanes; ++j) lm[j] = first;
  int64_t i = 0;
  for (; i + kLanes <= c; i += kLanes)
    for (int j = 0; j < kLanes; ++j) lm[j] = z[i + j] > lm[j] ? z[i + j] : lm[j];
  T m = lm[0];
  for (int j = 1; j < kLanes; ++j) m = lm[j] > m ? lm[j] : m;
  for (; i < c; ++i) m = z[i] > m ? z[i] : m;
  return m;
}

// Σ a[i]·b[i] (b == nullptr: Σ a[i]).
template <class T>
T row_dot(const T* __restrict a, const T* __restrict b, int64_t c) {
  T ls[kLanes] = {};
  int64_t i = 0;
  if (b) {
    for (; i + kLanes <= c; i += kLanes)
      for (int j = 0; j < kLanes; ++j) ls[j] += a[i + j] * b[i + j];
  } else {
    for (; i + kLanes <= c; i += kLanes)
      for (int j = 0; j < kLanes; ++j) ls[j] += a[i + j];
  }
  T s = 0;
  for (int j = 0; j < kLanes; ++j) s += ls[j];
  for (; i < c; ++i) s += b ? a[i] * b[i] : a[i];
  return s;
}

// Σ exp(z[i] - m); when out is non-null also writes out[i] = exp(z[i] - m) (out may alias z).
template <class T>
T row_sumexp(const T* z, T m, T* out, int64_t c) {
  T ls[kLanes] = {};
  int64_t i = 0;
  if (out) {
    for (; i + kLanes <= c; i += kLanes)
      for (int j = 0; j < kLanes; ++j) {
        const T e = fm::exp_poly(z[i + j] - m);
        out[i + j] = e;
        ls[j] += e;
      }
  } else {
    for (; i + kLanes <= c; i += kLanes)
      for (int j = 0; j < kLanes; ++j) ls[j] += fm::exp_poly(z[i + j] - m);
  }
  T s = 0;
  for (int j = 0; j < kLanes; ++j) s += ls[j];
  for (; i < c; ++i) {
    const T e = fm::exp_poly(z[i] - m);
    if (out) out[i] = e;
    s += e;
  }
  return s;
}

template <class T>
void ce_forward(const T* logits, const int64_t* labels, const T* weight, T* loss, T* lse,
                T* row_weight, int64_t n, int64_t c, int64_t ignore_index, T smoothing,
                T w_total) {
  const T n_classes = static_cast<T>(c);
  parallel_for(n, 2 * c, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const T* z = logits + i * c;
      const T m = row_max(z, c);
      const T l = fm::logsumexp_finish(m, row_sumexp<T>(z, m, nullptr, c));
      lse[i] = l;
      const int64_t y = labels[i];
      if (y == ignore_index) {
        loss[i] = T(0);
        row_weight[i] = T(0);
        continue;
      }
      const T w_y = weight ? weight[y] : T(1);
      const T sum_wz = smoothing != T(0) ? row_dot<T>(z, weight, c) : T(0);
      loss[i] = fm::cross_entropy_row_loss(l, z[y], w_y, sum_wz, w_total, smoothing, n_classes);
      row_weight[i] = w_y;
    }
  });
}

template <class T>
void ce_backward(const T* logits, const int64_t* labels, const T* weight, const T* lse,
                 const T* gy, T* gx, int64_t n, int64_t c, int64_t gy_stride,
                 int64_t ignore_index, T smoothing, T w_total, T scale) {
  const T n_classes = static_cast<T>(c);
  const T eps_c = smoothing / n_classes;
  parallel_for(n, 2 * c, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const T* __restrict z = logits + i * c;
      T* __restrict g_row = gx + i * c;
      const int64_t y = labels[i];
      if (y == ignore_index) {
        for (int64_t k = 0; k < c; ++k) g_row[k] = T(0);
        continue;
      }
      const T g = gy[i * gy_stride] * scale;
      const T w_y = weight ? weight[y] : T(1);
      const T a = fm::cross_entropy_row_coeff(w_y, w_total, smoothing, n_classes);
      const T l = lse[i];
      if (weight) {
        for (int64_t k = 0; k < c; ++k)
          g_row[k] = fm::cross_entropy_backward(z[k], l, a, eps_c * weight[k], g);
      } else {
        for (int64_t k = 0; k < c; ++k)
          g_row[k] = fm::cross_entropy_backward(z[k], l, a, eps_c, g);
      }
      g_row[y] -= fm::cross_entropy_label_term(w_y, smoothing, g);
    }
  });
}

template <class T>
void softmax_fwd(const T* x, T* y, int64_t n, int64_t c) {
  parallel_for(n, 2 * c, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const T m = row_max(x + i * c, c);
      T* __restrict yr = y + i * c;
      const T inv = T(1) / row_sumexp<T>(x + i * c, m, yr, c);
      for (int64_t k = 0; k < c; ++k) yr[k] *= inv;
    }
  });
}

template <class T>
void log_softmax_fwd(const T* x, T* y, int64_t n, int64_t c) {
  parallel_for(n, 2 * c, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const T* xr = x + i * c;
      const T m = row_max(xr, c);
      const T l = fm::logsumexp_finish(m, row_sumexp<T>(xr, m, nullptr, c));
      T* yr = y + i * c;  // may alias xr: same index read then written
      for (int64_t k = 0; k < c; ++k) yr[k] = xr[k] - l;
    }
  });
}

template <class T>
void softmax_bwd(const T* y, const T* gy, T* gx, int64_t n, int64_t c) {
  parallel_for(n, 2 * c, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const T* yr = y + i * c;
      const T* gr = gy + i * c;
      const T dot = row_dot<T>(yr, gr, c);
      T* out = gx + i * c;
      for (int64_t k = 0; k < c; ++k) out[k] = fm::softmax_backward(yr[k], gr[k], dot);
    }
  });
}

template <class T>
void log_softmax_bwd(const T* y, const T* gy, T* gx, int64_t n, int64_t c) {
  parallel_for(n, 2 * c, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const T* yr = y + i * c;
      const T* gr = gy + i * c;
      const T sg = row_dot<T>(gr, nullptr, c);
      T* out = gx + i * c;
      for (int64_t k = 0; k < c; ++k) out[k] = fm::log_softmax_backward(yr[k], gr[k], sg);
    }
  });
}

template <class T>
LossKernels<T> make_table() {
  return LossKernels<T>{&ce_forward<T>,  &ce_backward<T>,     &softmax_fwd<T>,
                        &log_softmax_fwd<T>, &softmax_bwd<T>, &log_softmax_bwd<T>};
}

}  // namespace
}  // namespace fg::cpu::FG_LOSS_ISA

namespace fg::cpu {
LossKernels<float> FG_LOSS_TABLE_F32() { return FG_LOSS_ISA::make_table<float>(); }
LossKernels<double> FG_LOSS_TABLE_F64() { return FG_LOSS_ISA::make_table<double>(); }
}  // namespace fg::cpu
