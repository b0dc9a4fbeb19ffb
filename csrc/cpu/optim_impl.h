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
#include "cpu/parallel.h"
#include "math/optim.h"

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#define FG_ADAM_VEC 1
#define FG_ADAM_INLINE inline __attribute__((always_inline))
#endif

namespace fg::cpu::FG_OPTIM_ISA {
namespace {

using math::AdadeltaParams;
using math::AdagradParams;
using math::AdamParams;
using math::RmspropParams;
using math::SgdParams;

#if defined(__AVX512F__)
// The float vector operations of Note [Adam without the divider], AVX-512 (16 lanes).
struct FV {
  static constexpr int kWidth = 16;
  __m512 x;
  using Mask = __mmask16;
  static FG_ADAM_INLINE FV load(const float* p) { return {_mm512_loadu_ps(p)}; }
  static FG_ADAM_INLINE void store(float* p, FV a) { _mm512_storeu_ps(p, a.x); }
  static FG_ADAM_INLINE FV set1(float a) { return {_mm512_set1_ps(a)}; }
  static FG_ADAM_INLINE FV neg(FV a) {
    return {_mm512_castsi512_ps(
        _mm512_xor_si512(_mm512_castps_si512(a.x), _mm512_set1_epi32(INT32_MIN)))};
  }
  static FG_ADAM_INLINE FV sub(FV a, FV b) { return {_mm512_sub_ps(a.x, b.x)}; }
  static FG_ADAM_INLINE FV mul(FV a, FV b) { return {_mm512_mul_ps(a.x, b.x)}; }
  static FG_ADAM_INLINE FV max(FV a, FV b) { return {_mm512_max_ps(a.x, b.x)}; }
  static FG_ADAM_INLINE FV fmadd(FV a, FV b, FV c) { return {_mm512_fmadd_ps(a.x, b.x, c.x)}; }
  static FG_ADAM_INLINE FV fnmadd(FV a, FV b, FV c) {  // c - a·b
    return {_mm512_fnmadd_ps(a.x, b.x, c.x)};
  }
  static FG_ADAM_INLINE FV sqrt(FV a) { return {_mm512_sqrt_ps(a.x)}; }
  static FG_ADAM_INLINE FV div(FV a, FV b) { return {_mm512_div_ps(a.x, b.x)}; }
  static FG_ADAM_INLINE FV rcp(FV a) { return {_mm512_rcp14_ps(a.x)}; }  // rel. error 2^-14
  static FG_ADAM_INLINE FV rsqrt_refined(FV a, FV) { return {_mm512_rsqrt14_ps(a.x)}; }
  static FG_ADAM_INLINE FV zero_where_zero(FV s, FV v) {
    return {_mm512_mask_blend_ps(_mm512_cmp_ps_mask(v.x, _mm512_setzero_ps(), _CMP_EQ_OQ),
                                 s.x, _mm512_setzero_ps())};
  }
  // Lanes where the estimates are safe: vh = 0 or normal, FLT_MIN <= d <= 2^100,
  // |m| <= 2^100 (false for NaN anywhere).
  static FG_ADAM_INLINE Mask fast_ok(FV vh, FV d, FV m, FV flt_min, FV big) {
    const __m512 fmax = _mm512_set1_ps(3.40282347e38f);
    const Mask v_ok = (_mm512_cmp_ps_mask(vh.x, flt_min.x, _CMP_GE_OQ) &
                       _mm512_cmp_ps_mask(vh.x, fmax, _CMP_LE_OQ)) |
                      _mm512_cmp_ps_mask(vh.x, _mm512_setzero_ps(), _CMP_EQ_OQ);
    const Mask d_ok = _mm512_cmp_ps_mask(d.x, flt_min.x, _CMP_GE_OQ) &
                      _mm512_cmp_ps_mask(d.x, big.x, _CMP_LE_OQ);
    const Mask m_ok = _mm512_cmp_ps_mask(_mm512_abs_ps(m.x), big.x, _CMP_LE_OQ);
    return v_ok & d_ok & m_ok;
  }
  static FG_ADAM_INLINE bool all(Mask k) { return k == Mask(0xFFFF); }
  static FG_ADAM_INLINE FV select(Mask k, FV a, FV b) {
    return {_mm512_mask_blend_ps(k, b.x, a.x)};
  }
};
#elif defined(FG_ADAM_VEC)
// The same for AVX2 + FMA (8 lanes). rsqrtps / rcpps have 12-bit estimates: the reciprocal
// square root gets one Newton step before use, the reciprocal one more than with rcp14.
struct FV {
  static constexpr int kWidth = 8;
  __m256 x;
  using Mask = __m256;
  static FG_ADAM_INLINE FV load(const float* p) { return {_mm256_loadu_ps(p)}; }
  static FG_ADAM_INLINE void store(float* p, FV a) { _mm256_storeu_ps(p, a.x); }
  static FG_ADAM_INLINE FV set1(float a) { return {_mm256_set1_ps(a)}; }
  static FG_ADAM_INLINE FV neg(FV a) { return {_mm256_xor_ps(a.x, _mm256_set1_ps(-0.0f))}; }
  static FG_ADAM_INLINE FV sub(FV a, FV b) { return {_mm256_sub_ps(a.x, b.x)}; }
  static FG_ADAM_INLINE FV mul(FV a, FV b) { return {_mm256_mul_ps(a.x, b.x)}; }
  static FG_ADAM_INLINE FV max(FV a, FV b) { return {_mm256_max_ps(a.x, b.x)}; }
  static FG_ADAM_INLINE FV fmadd(FV a, FV b, FV c) { return {_mm256_fmadd_ps(a.x, b.x, c.x)}; }
  static FG_ADAM_INLINE FV fnmadd(FV a, FV b, FV c) {
    return {_mm256_fnmadd_ps(a.x, b.x, c.x)};
  }
  static FG_ADAM_INLINE FV sqrt(FV a) { return {_mm256_sqrt_ps(a.x)}; }
  static FG_ADAM_INLINE FV div(FV a, FV b) { return {_mm256_div_ps(a.x, b.x)}; }
  static FG_ADAM_INLINE FV rcp(FV a) {  // rcpps + one Newton step: about 2^-23
    const __m256 z = _mm256_rcp_ps(a.x);
    return {_mm256_fmadd_ps(z, _mm256_fnmadd_ps(a.x, z, _mm256_set1_ps(1.0f)), z)};
  }
  static FG_ADAM_INLINE FV rsqrt_refined(FV a, FV half) {  // r·(1.5 - a/2·r²)
    const __m256 r = _mm256_rsqrt_ps(a.x);
    const __m256 t = _mm256_mul_ps(_mm256_mul_ps(a.x, half.x), _mm256_mul_ps(r, r));
    return {_mm256_mul_ps(r, _mm256_sub_ps(_mm256_set1_ps(1.5f), t))};
  }
  static FG_ADAM_INLINE FV zero_where_zero(FV s, FV v) {
    return {_mm256_blendv_ps(s.x, _mm256_setzero_ps(),
                             _mm256_cmp_ps(v.x, _mm256_setzero_ps(), _CMP_EQ_OQ))};
  }
  static FG_ADAM_INLINE Mask fast_ok(FV vh, FV d, FV m, FV flt_min, FV big) {
    const __m256 zero = _mm256_setzero_ps();
    const __m256 v_ok = _mm256_or_ps(
        _mm256_and_ps(_mm256_cmp_ps(vh.x, flt_min.x, _CMP_GE_OQ),
                      _mm256_cmp_ps(vh.x, _mm256_set1_ps(3.40282347e38f), _CMP_LE_OQ)),
        _mm256_cmp_ps(vh.x, zero, _CMP_EQ_OQ));
    const __m256 d_ok = _mm256_and_ps(_mm256_cmp_ps(d.x, flt_min.x, _CMP_GE_OQ),
                                      _mm256_cmp_ps(d.x, big.x, _CMP_LE_OQ));
    const __m256 am = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), m.x);
    const __m256 m_ok = _mm256_cmp_ps(am, big.x, _CMP_LE_OQ);
    return _mm256_and_ps(_mm256_and_ps(v_ok, d_ok), m_ok);
  }
  static FG_ADAM_INLINE bool all(Mask k) { return _mm256_movemask_ps(k) == 0xFF; }
  static FG_ADAM_INLINE FV select(Mask k, FV a, FV b) { return {_mm256_blendv_ps(b.x, a.x, k)}; }
};
#endif

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
    nt = std::min<int64_t>(num_threads(), total / (kOptimParallelThreshold / 2));
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

#if defined(FG_ADAM_VEC)
// Note [Adam without the divider]
// float32 Adam spends its arithmetic on one sqrt and one division per element, and both run
// on the one divide unit (about 1.4 cycles per element with AVX-512): on one core that is
// about the time the memory system needs to stream the element's 28 bytes, so the step ran at
// PyTorch's fused speed (0.91x-1.09x) instead of at the memory's. Here (the x86-64-v3 and v4
// builds, float32 only) sqrt(v) and m / denom come from the hardware reciprocal estimates
// refined by Newton steps that use only FMAs:
//   s = v·r + (r/2)·(v - (v·r)²),           r ≈ 1/sqrt(v)  (rsqrt14, or rsqrtps + one step)
//   q = m·z + z·(m - d·(m·z)),               z ≈ 1/d        (rcp14 + one step)
// so the update is still p + (-lr/bc1)·m / (sqrt(v̂)·(1/sqrt(bc2)) + eps), eps added to the
// bias-corrected sqrt(v̂) as in PyTorch; s is within 1 ulp of the correctly rounded sqrt
// (0.6% of random inputs differ by 1 ulp) and q correctly rounded in all 4M samples tried.
// Lanes outside the range where the estimates are safe (v̂ denormal, inf or NaN; d = denom
// below FLT_MIN or above 2^100; |m| above 2^100) take sqrtps / divps instead, lane by lane,
// so every element's result depends on its own values only (the same bits for any thread
// split). The tail of a span goes through a zero-padded vector for the same reason.
// Measured (10M parameters, one thread, A/B in one process on the shared machine): 1.10-1.27x
// the exact sqrt/div loop without prefetch, 1.24-1.37x with it (Note [Adam prefetch]); at two
// threads both are bound by memory (0.99-1.08x).
template <bool kAmsgrad, bool kMaximize>
FG_ADAM_INLINE void adam_vec(const float* g_, float* p_, float* m_, float* v_, float* vmax_,
                             const AdamParams<float>& hp, const FV& one, const FV& half,
                             const FV& flt_min, const FV& big) {
  // Every load before the first store: the arrays usually share their offset modulo 4 KB
  // (large allocations are page-aligned), and a load issued behind a store to the same offset
  // may wait for it (4K aliasing).
  FV g = FV::load(g_);
  FV pp = FV::load(p_);
  const FV m = FV::load(m_);
  const FV v = FV::load(v_);
  const FV vmax = kAmsgrad ? FV::load(vmax_) : v;
  if (kMaximize) g = FV::neg(g);
  if (hp.weight_decay != 0.0f) {
    if (hp.decoupled)
      pp = FV::mul(pp, FV::set1(hp.decay_factor));
    else
      g = FV::fmadd(FV::set1(hp.weight_decay), pp, g);
  }
  const FV mm = FV::fmadd(FV::set1(hp.one_minus_beta1), FV::sub(g, m), m);
  const FV vv = FV::fmadd(v, FV::set1(hp.beta2),
                          FV::mul(FV::mul(FV::set1(hp.one_minus_beta2), g), g));
  const FV vh = kAmsgrad ? FV::max(vmax, vv) : vv;
  // s ≈ sqrt(vh); exact 0 for vh = 0 (the estimate of 1/sqrt(0) is inf).
  const FV r = FV::rsqrt_refined(vh, half);
  const FV s0 = FV::mul(vh, r);
  FV s = FV::fmadd(FV::fnmadd(s0, s0, vh), FV::mul(r, half), s0);
  s = FV::zero_where_zero(s, vh);
  const FV c = FV::set1(hp.inv_bc2_sqrt);
  const FV eps = FV::set1(hp.eps);
  const FV d = FV::fmadd(s, c, eps);
  FV z = FV::rcp(d);
  z = FV::fmadd(z, FV::fnmadd(d, z, one), z);
  const FV q0 = FV::mul(mm, z);
  FV q = FV::fmadd(FV::fnmadd(d, q0, mm), z, q0);
  const auto ok = FV::fast_ok(vh, d, mm, flt_min, big);
  if (!FV::all(ok)) {
    const FV exact = FV::div(mm, FV::fmadd(FV::sqrt(vh), c, eps));
    q = FV::select(ok, q, exact);
  }
  FV::store(m_, mm);
  FV::store(v_, vv);
  if (kAmsgrad) FV::store(vmax_, vh);
  FV::store(p_, FV::fmadd(FV::set1(hp.neg_step_size), q, pp));
}

// Note [Adam prefetch]
// Four streams read and three written per element: besides the hardware prefetchers, each
// read stream is prefetched 1 KB ahead (one cache line per 16 elements), which added about
// 10% on one thread at 10M parameters (Note [Adam without the divider]); 4 KB ahead measured
// the same, non-temporal stores 30-45% slower.
constexpr int64_t kAdamPrefetch = 256;

template <bool kAmsgrad, bool kMaximize>
void adam_span_vec(const float* __restrict g, float* __restrict p, float* __restrict m,
                   float* __restrict v, float* __restrict vmax, int64_t n,
                   AdamParams<float> hp) {
  constexpr int W = FV::kWidth;
  const FV one = FV::set1(1.0f), half = FV::set1(0.5f);
  const FV flt_min = FV::set1(1.17549435e-38f), big = FV::set1(1.2676506e30f);  // 2^100
  int64_t j = 0;
  for (; j + W <= n; j += W) {
    // Software prefetch kAdamPrefetch elements ahead: one cache line per stream every 16
    // elements, within the span.
    if (j % 16 == 0 && j + kAdamPrefetch < n) {
      _mm_prefetch(reinterpret_cast<const char*>(g + j + kAdamPrefetch), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(p + j + kAdamPrefetch), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(m + j + kAdamPrefetch), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(v + j + kAdamPrefetch), _MM_HINT_T0);
      if (kAmsgrad)
        _mm_prefetch(reinterpret_cast<const char*>(vmax + j + kAdamPrefetch), _MM_HINT_T0);
    }
    adam_vec<kAmsgrad, kMaximize>(g + j, p + j, m + j, v + j, kAmsgrad ? vmax + j : nullptr,
                                  hp, one, half, flt_min, big);
  }
  if (j < n) {
    float tg[W] = {}, tp[W] = {}, tm[W] = {}, tv[W] = {}, tx[W] = {};
    const int64_t k = n - j;
    for (int64_t i = 0; i < k; ++i) {
      tg[i] = g[j + i];
      tp[i] = p[j + i];
      tm[i] = m[j + i];
      tv[i] = v[j + i];
      if (kAmsgrad) tx[i] = vmax[j + i];
    }
    adam_vec<kAmsgrad, kMaximize>(tg, tp, tm, tv, tx, hp, one, half, flt_min, big);
    for (int64_t i = 0; i < k; ++i) {
      p[j + i] = tp[i];
      m[j + i] = tm[i];
      v[j + i] = tv[i];
      if (kAmsgrad) vmax[j + i] = tx[i];
    }
  }
}
#endif

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
#if defined(FG_ADAM_VEC)
        if constexpr (std::is_same_v<T, float>) {
          adam_span_vec<kAms, kMax>(grads[i] + lo, params[i] + lo, exp_avgs[i] + lo,
                                    exp_avg_sqs[i] + lo, vmax, hi - lo, hp);
          return;
        }
#endif
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
  const int slots = std::max(omp_get_max_threads(), num_threads()) + static_cast<int>(count) + 1;
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
