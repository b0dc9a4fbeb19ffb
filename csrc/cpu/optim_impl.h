// The optimizer loops, compiled once per instruction set: optim.cpp (baseline x86-64),
// optim_v3.cpp (x86-64-v3) and optim_v4.cpp (x86-64-v4) each define FG_OPTIM_ISA (a
// namespace name) and FG_OPTIM_TABLE_F32/F64 (the table getters) and include this file.
// Everything below lives in fg::cpu::FG_OPTIM_ISA, so the three builds never share a symbol.
// See Note [Optimizer pointer table] in cpu/optim.h for the layout and contract.
//
// Note [sqrt without errno]
// The loops vectorise only if the build passes -fno-math-errno. With GCC's default
// -fmath-errno, sqrt(x) becomes "sqrtss; if x < 0 call libm (to set errno)", that branch
// stops the vectoriser, and the steps run 4-5x slower (Adam in cache, gcc 12, x86-64-v4:
// 8.8 vs 1.9 ns per element; 10M params: far below PyTorch's fused Adam). Results are
// identical either way; only errno is not set. Tried and rejected: `#pragma GCC optimize
// ("no-math-errno")` (ignored by gcc 12 under -std=c++17) and re-declaring sqrt/sqrtf
// `const` in these files (works without LTO, but LTO merges the declaration with the other
// translation units' and the attribute is lost). The flag has to come from CMakeLists.txt.
#if !defined(FG_OPTIM_ISA) || !defined(FG_OPTIM_TABLE_F32) || !defined(FG_OPTIM_TABLE_F64)
#error "define FG_OPTIM_ISA, FG_OPTIM_TABLE_F32 and FG_OPTIM_TABLE_F64 before including"
#endif
#if !defined(__NO_MATH_ERRNO__)
#warning "built without -fno-math-errno: the optimizer loops will not vectorise sqrt (slow)"
#endif

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#if defined(FG_OPENMP)
#include <omp.h>
#endif

#include "cpu/optim.h"
#include "math/optim.h"

namespace fg::cpu::FG_OPTIM_ISA {
namespace {

using math::AdadeltaParams;
using math::AdagradParams;
using math::AdamParams;
using math::RmspropParams;
using math::SgdParams;

// Calls f(std::true_type{}) or f(std::false_type{}): turns a runtime flag into a constant so
// each loop below is compiled once per flag value with the branch folded away.
template <class F>
void with_flag(bool b, F&& f) {
  if (b)
    f(std::true_type{});
  else
    f(std::false_type{});
}

// Runs f(i, lo, hi) over [lo, hi) slices of tensor i such that the slices of all threads
// cover the flattened group exactly once. Thread k owns the flattened range
// [total*k/nt, total*(k+1)/nt), with interior cut points rounded down to a multiple of 64
// elements so that neighbouring threads rarely write one cache line.
template <class F>
void for_each_span(const int64_t* sizes, int64_t count, F&& f) {
  int64_t total = 0;
  for (int64_t i = 0; i < count; ++i) total += sizes[i];
  if (total == 0) return;
  auto cut = [total](int64_t k, int64_t nt) {
    if (k >= nt) return total;
    return (total / nt * k + total % nt * k / nt) / 64 * 64;
  };
  auto run = [&](int64_t k, int64_t nt) {
    const int64_t begin = cut(k, nt), end = cut(k + 1, nt);
    int64_t off = 0, i = 0;
    while (i < count && off + sizes[i] <= begin) off += sizes[i++];
    for (; i < count && off < end; off += sizes[i++]) {
      const int64_t lo = std::max(begin, off) - off;
      const int64_t hi = std::min(end, off + sizes[i]) - off;
      if (hi > lo) f(i, lo, hi);
    }
  };
  int64_t nt = 1;
#if defined(FG_OPENMP)
  if (total >= kOptimParallelThreshold)
    nt = std::min<int64_t>(omp_get_max_threads(), total / (kOptimParallelThreshold / 2));
#endif
  if (nt <= 1) {
    run(0, 1);
    return;
  }
#if defined(FG_OPENMP)
#pragma omp parallel num_threads(static_cast<int>(nt))
  run(omp_get_thread_num(), omp_get_num_threads());
#endif
}

// ---- SGD ----------------------------------------------------------------------------------
template <class T, bool kMomentum, bool kFirst>
void sgd_span(const T* __restrict g, T* __restrict p, T* __restrict buf, int64_t n,
              SgdParams<T> hp) {
  if (!kMomentum) {
    hp.momentum = T(0);
    for (int64_t j = 0; j < n; ++j) {
      T unused;
      math::sgd_update(p[j], g[j], unused, false, hp);
    }
  } else {
    for (int64_t j = 0; j < n; ++j) math::sgd_update(p[j], g[j], buf[j], kFirst, hp);
  }
}

template <class T>
void sgd_step(const T* const* grads, T* const* params, T* const* momentum_buffers,
              const uint8_t* first, const int64_t* sizes, int64_t count, double lr,
              double momentum, double dampening, double weight_decay, bool nesterov,
              bool maximize) {
  const auto hp =
      math::make_sgd_params<T>(lr, momentum, dampening, weight_decay, nesterov, maximize);
  const bool has_momentum = momentum != 0.0;
  for_each_span(sizes, count, [&](int64_t i, int64_t lo, int64_t hi) {
    T* buf = has_momentum ? momentum_buffers[i] + lo : nullptr;
    const bool is_first = has_momentum && first[i] != 0;
    with_flag(has_momentum, [&](auto kMom) {
      with_flag(is_first, [&](auto kFirst) {
        sgd_span<T, kMom, kFirst>(grads[i] + lo, params[i] + lo, buf, hi - lo, hp);
      });
    });
  });
}

// ---- Adam / AdamW -------------------------------------------------------------------------
template <class T, bool kAmsgrad, bool kMaximize>
void adam_span(const T* __restrict g, T* __restrict p, T* __restrict m, T* __restrict v,
               T* __restrict vmax, int64_t n, AdamParams<T> hp) {
  hp.amsgrad = kAmsgrad;
  hp.maximize = kMaximize;
  if (kAmsgrad) {
    for (int64_t j = 0; j < n; ++j) math::adam_update(p[j], g[j], m[j], v[j], vmax[j], hp);
  } else {
    for (int64_t j = 0; j < n; ++j) {
      T unused = T(0);
      math::adam_update(p[j], g[j], m[j], v[j], unused, hp);
    }
  }
}

template <class T>
void adam_step(const T* const* grads, T* const* params, T* const* exp_avgs,
               T* const* exp_avg_sqs, T* const* max_exp_avg_sqs, const int64_t* sizes,
               int64_t count, const double* steps, double lr, double beta1, double beta2,
               double eps, double weight_decay, bool amsgrad, bool decoupled, bool maximize) {
  for_each_span(sizes, count, [&](int64_t i, int64_t lo, int64_t hi) {
    const auto hp = math::make_adam_params<T>(steps[i], lr, beta1, beta2, eps, weight_decay,
                                              amsgrad, decoupled, maximize);
    T* vmax = amsgrad ? max_exp_avg_sqs[i] + lo : nullptr;
    with_flag(amsgrad, [&](auto kAms) {
      with_flag(maximize, [&](auto kMax) {
        adam_span<T, kAms, kMax>(grads[i] + lo, params[i] + lo, exp_avgs[i] + lo,
                                 exp_avg_sqs[i] + lo, vmax, hi - lo, hp);
      });
    });
  });
}

// ---- RMSprop ------------------------------------------------------------------------------
template <class T, bool kCentered, bool kMomentum>
void rmsprop_span(const T* __restrict g, T* __restrict p, T* __restrict sq,
                  T* __restrict ga, T* __restrict buf, int64_t n, RmspropParams<T> hp) {
  hp.centered = kCentered;
  if (!kMomentum) hp.momentum = T(0);
  for (int64_t j = 0; j < n; ++j) {
    T ga_unused = T(0), buf_unused = T(0);
    math::rmsprop_update(p[j], g[j], sq[j], kCentered ? ga[j] : ga_unused,
                         kMomentum ? buf[j] : buf_unused, hp);
  }
}

template <class T>
void rmsprop_step(const T* const* grads, T* const* params, T* const* square_avgs,
                  T* const* grad_avgs, T* const* momentum_buffers, const int64_t* sizes,
                  int64_t count, double lr, double alpha, double eps, double weight_decay,
                  double momentum, bool centered, bool maximize) {
  const auto hp =
      math::make_rmsprop_params<T>(lr, alpha, eps, weight_decay, momentum, centered, maximize);
  const bool has_momentum = momentum > 0.0;
  for_each_span(sizes, count, [&](int64_t i, int64_t lo, int64_t hi) {
    T* ga = centered ? grad_avgs[i] + lo : nullptr;
    T* buf = has_momentum ? momentum_buffers[i] + lo : nullptr;
    with_flag(centered, [&](auto kCen) {
      with_flag(has_momentum, [&](auto kMom) {
        rmsprop_span<T, kCen, kMom>(grads[i] + lo, params[i] + lo, square_avgs[i] + lo, ga,
                                    buf, hi - lo, hp);
      });
    });
  });
}

// ---- Adagrad ------------------------------------------------------------------------------
template <class T>
void adagrad_span(const T* __restrict g, T* __restrict p, T* __restrict sum, int64_t n,
                  AdagradParams<T> hp) {
  for (int64_t j = 0; j < n; ++j) math::adagrad_update(p[j], g[j], sum[j], hp);
}

template <class T>
void adagrad_step(const T* const* grads, T* const* params, T* const* state_sums,
                  const int64_t* sizes, int64_t count, const double* steps, double lr,
                  double lr_decay, double eps, double weight_decay, bool maximize) {
  for_each_span(sizes, count, [&](int64_t i, int64_t lo, int64_t hi) {
    const auto hp =
        math::make_adagrad_params<T>(steps[i], lr, lr_decay, eps, weight_decay, maximize);
    adagrad_span<T>(grads[i] + lo, params[i] + lo, state_sums[i] + lo, hi - lo, hp);
  });
}

// ---- Adadelta -----------------------------------------------------------------------------
template <class T>
void adadelta_span(const T* __restrict g, T* __restrict p, T* __restrict sq,
                   T* __restrict acc, int64_t n, AdadeltaParams<T> hp) {
  for (int64_t j = 0; j < n; ++j) math::adadelta_update(p[j], g[j], sq[j], acc[j], hp);
}

template <class T>
void adadelta_step(const T* const* grads, T* const* params, T* const* square_avgs,
                   T* const* acc_deltas, const int64_t* sizes, int64_t count, double lr,
                   double rho, double eps, double weight_decay, bool maximize) {
  const auto hp = math::make_adadelta_params<T>(lr, rho, eps, weight_decay, maximize);
  for_each_span(sizes, count, [&](int64_t i, int64_t lo, int64_t hi) {
    adadelta_span<T>(grads[i] + lo, params[i] + lo, square_avgs[i] + lo, acc_deltas[i] + lo,
                     hi - lo, hp);
  });
}

// ---- clipping -----------------------------------------------------------------------------
// Partial results per slice are combined in a fixed order (by slice start), so the norm is
// the same for a given thread count. Eight accumulators let the double sums vectorise.
template <class T>
double grad_norm(const T* const* grads, const int64_t* sizes, int64_t count,
                 double norm_type) {
  const bool is_inf = norm_type == HUGE_VAL;
  struct Part {
    int64_t i, lo;
    double acc;
  };
  std::vector<Part> parts;
#if defined(FG_OPENMP)
  const int slots = omp_get_max_threads() + static_cast<int>(count) + 1;
#else
  const int slots = static_cast<int>(count) + 1;
#endif
  parts.reserve(static_cast<size_t>(slots));
  std::vector<std::vector<Part>> per_thread(static_cast<size_t>(slots));
  for_each_span(sizes, count, [&](int64_t i, int64_t lo, int64_t hi) {
    const T* g = grads[i];
    double acc = 0.0;
    if (is_inf) {
      for (int64_t j = lo; j < hi; ++j) {
        const double a = math::hd_abs(double(g[j]));
        acc = (a > acc || a != a) ? a : acc;
        if (acc != acc) break;
      }
    } else {
      double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      int64_t j = lo;
      for (; j + 8 <= hi; j += 8)
        for (int u = 0; u < 8; ++u) s[u] += math::norm_term(g[j + u], norm_type);
      for (; j < hi; ++j) s[0] += math::norm_term(g[j], norm_type);
      acc = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    }
#if defined(FG_OPENMP)
    const size_t slot = static_cast<size_t>(omp_get_thread_num());
#else
    const size_t slot = 0;
#endif
    per_thread[slot].push_back(Part{i, lo, acc});
  });
  for (auto& v : per_thread) parts.insert(parts.end(), v.begin(), v.end());
  std::sort(parts.begin(), parts.end(), [](const Part& a, const Part& b) {
    return a.i != b.i ? a.i < b.i : a.lo < b.lo;
  });
  double total = 0.0;
  for (const Part& q : parts) {
    if (is_inf)
      total = (q.acc > total || q.acc != q.acc) ? q.acc : total;
    else
      total += q.acc;
  }
  if (is_inf || norm_type == 1.0) return total;
  if (norm_type == 2.0) return math::hd_sqrt(total);
  return math::hd_pow(total, 1.0 / norm_type);
}

template <class T>
void scale_(T* const* arrays, const int64_t* sizes, int64_t count, double factor) {
  const T f = T(factor);
  for_each_span(sizes, count, [&](int64_t i, int64_t lo, int64_t hi) {
    T* __restrict a = arrays[i];
    for (int64_t j = lo; j < hi; ++j) a[j] = a[j] * f;
  });
}

template <class T>
void clamp_(T* const* arrays, const int64_t* sizes, int64_t count, double lo_v, double hi_v) {
  const T lo_t = T(lo_v), hi_t = T(hi_v);
  for_each_span(sizes, count, [&](int64_t i, int64_t lo, int64_t hi) {
    T* __restrict a = arrays[i];
    for (int64_t j = lo; j < hi; ++j) a[j] = math::clamp_value(a[j], lo_t, hi_t);
  });
}

template <class T>
void stream_triad(const T* b, const T* c, T* a, int64_t n, double s) {
  const T st = T(s);
  for_each_span(&n, 1, [&](int64_t, int64_t lo, int64_t hi) {
    const T* __restrict bb = b;
    const T* __restrict cc = c;
    T* __restrict aa = a;
    for (int64_t j = lo; j < hi; ++j) aa[j] = bb[j] + st * cc[j];
  });
}

template <class T>
OptimKernels<T> make_table() {
  return OptimKernels<T>{&sgd_step<T>,     &adam_step<T>, &rmsprop_step<T>, &adagrad_step<T>,
                         &adadelta_step<T>, &grad_norm<T>, &scale_<T>,       &clamp_<T>,
                         &stream_triad<T>};
}

}  // namespace
}  // namespace fg::cpu::FG_OPTIM_ISA

namespace fg::cpu {
OptimKernels<float> FG_OPTIM_TABLE_F32() { return FG_OPTIM_ISA::make_table<float>(); }
OptimKernels<double> FG_OPTIM_TABLE_F64() { return FG_OPTIM_ISA::make_table<double>(); }
}  // namespace fg::cpu
