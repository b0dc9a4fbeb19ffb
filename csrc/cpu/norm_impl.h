// The batch-norm loops, compiled once per instruction set: norm.cpp (baseline x86-64),
// norm_v3.cpp (x86-64-v3) and norm_v4.cpp (x86-64-v4) each define FG_NORM_ISA (a namespace
// name) and FG_NORM_TABLE_F32/F64 (the table getters) and include this file. Contracts are in
// cpu/norm.h, per-element math in math/norm.h.
//
// Layout (n, c, l), C-contiguous. Two loop shapes:
//   l == 1 (2-D input): fixed chunks of rows, one parallel region per call (Note [batch-norm
//     row chunks] in cpu/norm.h). The inner loops run over the contiguous channels, so they
//     vectorise without any reduction across lanes.
//   l > 1: one task per channel does everything for that channel (statistics, running stats,
//     output); the rows of length l are reduced with lane accumulators (the compiler does not
//     vectorise a plain floating-point sum, which would need reassociation).
// Sums are accumulated in T over short blocks and folded into double (Note [batch-norm
// statistics] in math/norm.h).
#if !defined(FG_NORM_ISA) || !defined(FG_NORM_TABLE_F32) || !defined(FG_NORM_TABLE_F64)
#error "define FG_NORM_ISA, FG_NORM_TABLE_F32 and FG_NORM_TABLE_F64 before including"
#endif

#include <stdint.h>

#include <type_traits>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "cpu/norm.h"
#include "cpu/parallel.h"
#include "math/norm.h"

namespace fg::cpu::FG_NORM_ISA {
namespace {

namespace fm = fg::math;

constexpr int64_t kBlockRows = 64;    // rows summed in T before folding into double (l == 1)
constexpr int64_t kBlockElems = 1024;  // elements summed in T before folding (l > 1)
constexpr int kLanes = 16;
constexpr int64_t kShiftRows = 8;  // rows averaged for the provisional mean (l == 1)

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

// Note [batch-norm streaming stores]
// In the AVX-512 build the element passes of large 2-D inputs write y / gx with non-temporal
// stores: the output goes to memory without first reading its lines (no write-allocate), and
// it does not evict the chunks of x (and gy) that the pass is about to read from L2. Measured
// (forward + backward, A/B on the shared machine): one thread 1024 x 512 0.93 -> 0.87 ms,
// 8192 x 256 7.6 -> 6.6 ms; two threads 8192 x 256 3.3 -> 2.4 ms, 1024 x 512 about the same;
// 128 x 512 (output 256 KB, in cache) got slower, hence the threshold. The next layer then reads the
// output from memory rather than L3 (in an MLP a GEMM, which is compute-bound). Elements
// before the first 64-byte boundary of a row and after the last take ordinary stores; every
// element gets the same arithmetic either way (the FMAs the contracted scalar code uses).
#if defined(__AVX512F__)
constexpr bool kBnCanStream = true;
#else
constexpr bool kBnCanStream = false;
#endif
constexpr int64_t kBnStreamBytes = int64_t(1) << 20;

// a·b + c rounded once, spelled out: the elements of a streamed row outside its aligned
// blocks must get exactly the arithmetic of the vectors (where a row starts relative to a
// 64-byte boundary depends on the output's address), not whatever contraction the compiler
// picks for the scalar formula.
template <class T>
inline T fma_t(T a, T b, T c) {
  if constexpr (sizeof(T) == 4)
    return __builtin_fmaf(a, b, c);
  else
    return __builtin_fma(a, b, c);
}

// Row of c outputs: out[k] = f(k) for every k, the 64-byte aligned blocks as v(k) (the vector
// of elements k .. k + 64/sizeof(T) - 1) with a non-temporal store. out may alias the
// arrays f and v read (each block is computed before it is stored).
template <class T, class F, class V>
inline void stream_row(T* out, int64_t c, F&& f, V&& v) {
  int64_t k = 0;
#if defined(__AVX512F__)
  constexpr int64_t kW = 64 / static_cast<int64_t>(sizeof(T));
  for (; k < c && (reinterpret_cast<uintptr_t>(out + k) & 63) != 0; ++k) out[k] = f(k);
  for (; k + kW <= c; k += kW) {
    if constexpr (sizeof(T) == 4)
      _mm512_stream_ps(reinterpret_cast<float*>(out + k), v(k));
    else
      _mm512_stream_pd(reinterpret_cast<double*>(out + k), v(k));
  }
#else
  (void)v;
#endif
  for (; k < c; ++k) out[k] = f(k);
}

inline void stream_fence() {
#if defined(__AVX512F__)
  _mm_sfence();
#endif
}

// Over one contiguous row: s_b = Σ (b - mb), s_ab = Σ (a - ma)·(b - mb); with a == nullptr,
// s_ab = Σ (b - mb)² instead. Lane accumulators in T, folded into double every kBlockElems.
template <class T>
void row_sums(const T* __restrict a, T ma, const T* __restrict b, T mb, int64_t len,
              double* s_ab, double* s_b) {
  double tab = 0, tb = 0;
  for (int64_t b0 = 0; b0 < len; b0 += kBlockElems) {
    const int64_t b1 = min64(len, b0 + kBlockElems);
    T lab[kLanes] = {}, lb[kLanes] = {};
    int64_t i = b0;
    if (a) {
      for (; i + kLanes <= b1; i += kLanes)
        for (int j = 0; j < kLanes; ++j) {
          const T db = b[i + j] - mb;
          lab[j] += (a[i + j] - ma) * db;
          lb[j] += db;
        }
    } else {
      for (; i + kLanes <= b1; i += kLanes)
        for (int j = 0; j < kLanes; ++j) {
          const T db = b[i + j] - mb;
          lab[j] += db * db;
          lb[j] += db;
        }
    }
    T sab = 0, sb = 0;
    for (int j = 0; j < kLanes; ++j) {
      sab += lab[j];
      sb += lb[j];
    }
    for (; i < b1; ++i) {
      const T db = b[i] - mb;
      sab += (a ? a[i] - ma : db) * db;
      sb += db;
    }
    tab += sab;
    tb += sb;
  }
  *s_ab = tab;
  *s_b = tb;
}

// l == 1, rows [r0, r1) of c contiguous channels: s1[k] = Σ (b - mb[k]),
// s2[k] = Σ (a - ma[k])·(b - mb[k]), or Σ (b - mb[k])² when a == nullptr. Four rows per
// sweep (the accumulators, 2c elements of blk, are loaded and stored once per four rows);
// folded into double every kBlockRows rows.
template <class T, bool kHasA>
void chunk_sums_2d_impl(const T* a, const T* __restrict ma, const T* b, const T* __restrict mb,
                        int64_t r0, int64_t r1, int64_t c, double* __restrict s1,
                        double* __restrict s2, T* __restrict blk) {
  T* __restrict b1 = blk;
  T* __restrict b2 = blk + c;
  for (int64_t k = 0; k < c; ++k) s1[k] = s2[k] = 0.0;
  for (int64_t q0 = r0; q0 < r1; q0 += kBlockRows) {
    const int64_t q1 = min64(r1, q0 + kBlockRows);
    for (int64_t k = 0; k < 2 * c; ++k) blk[k] = T(0);
    int64_t i = q0;
    for (; i + 4 <= q1; i += 4) {
      const T* __restrict p0 = b + i * c;
      const T* __restrict p1 = p0 + c;
      const T* __restrict p2 = p1 + c;
      const T* __restrict p3 = p2 + c;
      const T* __restrict a0 = kHasA ? a + i * c : p0;
      const T* __restrict a1 = a0 + c;
      const T* __restrict a2 = a1 + c;
      const T* __restrict a3 = a2 + c;
      for (int64_t k = 0; k < c; ++k) {
        const T m = mb[k];
        const T d0 = p0[k] - m, d1 = p1[k] - m, d2 = p2[k] - m, d3 = p3[k] - m;
        b1[k] += (d0 + d1) + (d2 + d3);
        if (kHasA) {
          const T am = ma[k];
          b2[k] += ((a0[k] - am) * d0 + (a1[k] - am) * d1) +
                   ((a2[k] - am) * d2 + (a3[k] - am) * d3);
        } else {
          b2[k] += (d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3);
        }
      }
    }
    for (; i < q1; ++i) {
      const T* __restrict br = b + i * c;
      const T* __restrict ar = kHasA ? a + i * c : br;
      for (int64_t k = 0; k < c; ++k) {
        const T db = br[k] - mb[k];
        b1[k] += db;
        b2[k] += (kHasA ? ar[k] - ma[k] : db) * db;
      }
    }
    for (int64_t k = 0; k < c; ++k) {
      s1[k] += b1[k];
      s2[k] += b2[k];
    }
  }
}

// l > 1, channel k over all n rows: s1 = Σ (b - mb), s2 = Σ (a - ma)·(b - mb) (or Σ (b - mb)²
// when a == nullptr). The lane accumulators run on across rows (a row may be short) and are
// folded into double about every kBlockElems elements.
template <class T, bool kHasA>
void channel_sums_3d_impl(const T* a, T ma, const T* b, T mb, int64_t n, int64_t c, int64_t l,
                          int64_t k, double* s1, double* s2) {
  double t1 = 0, t2 = 0;
  T l1[kLanes] = {}, l2[kLanes] = {};
  int64_t pending = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t off = (i * c + k) * l;
    const T* __restrict br = b + off;
    const T* __restrict ar = kHasA ? a + off : br;
    int64_t j = 0;
    for (; j + kLanes <= l; j += kLanes)
      for (int q = 0; q < kLanes; ++q) {
        const T db = br[j + q] - mb;
        l1[q] += db;
        l2[q] += (kHasA ? ar[j + q] - ma : db) * db;
      }
    for (; j < l; ++j) {
      const T db = br[j] - mb;
      l1[0] += db;
      l2[0] += (kHasA ? ar[j] - ma : db) * db;
    }
    pending += l;
    if (pending >= kBlockElems || i == n - 1) {
      T f1 = 0, f2 = 0;
      for (int q = 0; q < kLanes; ++q) {
        f1 += l1[q];
        f2 += l2[q];
        l1[q] = l2[q] = T(0);
      }
      t1 += f1;
      t2 += f2;
      pending = 0;
    }
  }
  *s1 = t1;
  *s2 = t2;
}

template <class T>
void channel_sums_3d(const T* a, T ma, const T* b, T mb, int64_t n, int64_t c, int64_t l,
                     int64_t k, double* s1, double* s2) {
  if (a)
    channel_sums_3d_impl<T, true>(a, ma, b, mb, n, c, l, k, s1, s2);
  else
    channel_sums_3d_impl<T, false>(a, ma, b, mb, n, c, l, k, s1, s2);
}

// Statistics of channel k -> saved stats, running stats, and the output coefficients.
template <class T>
void finish_channel(int64_t k, double shift, double sd, double sd2, double count,
                    bool batch_stats, const T* weight, const T* bias, T* save_mean,
                    T* save_invstd, T* running_mean, T* running_var, double factor, double eps,
                    T* mean_t, T* scale, T* beta_t) {
  double mean, var;
  if (batch_stats) {
    fm::bn_stats_finish(shift, sd, sd2, count, &mean, &var);
    if (running_mean) running_mean[k] = fm::bn_running_update(running_mean[k], mean, factor);
    if (running_var) {
      const double unbiased = count > 1.0 ? var * count / (count - 1.0) : var;
      running_var[k] = fm::bn_running_update(running_var[k], unbiased, factor);
    }
  } else {
    mean = static_cast<double>(running_mean[k]);
    var = static_cast<double>(running_var[k]);
  }
  const double invstd = fm::bn_invstd(var, eps);
  save_mean[k] = static_cast<T>(mean);
  save_invstd[k] = static_cast<T>(invstd);
  *mean_t = static_cast<T>(mean);
  *scale = static_cast<T>((weight ? static_cast<double>(weight[k]) : 1.0) * invstd);
  *beta_t = bias ? bias[k] : T(0);
}

// ---- l == 1: one team per call (Note [batch-norm row chunks] in cpu/norm.h) --------------

// Claims chunk flag f for the calling thread (false if another thread already has it).
inline bool claim(uint32_t* f) {
  return __atomic_load_n(f, __ATOMIC_RELAXED) == 0u &&
         __atomic_exchange_n(f, 1u, __ATOMIC_RELAXED) == 0u;
}

// Calls f(q) for the chunks thread tid of nt claims: its own share [nch·tid/nt, nch·(tid+1)/nt)
// first (in order, or last chunk first when `backwards`), then the chunks of the other shares
// nobody has claimed yet, from the end their owner reaches last. The element pass runs
// backwards: the chunks summed last are the ones the L2 still holds (measured 5-10% faster
// than forwards at 1024 x 512 and 8192 x 256, one thread); rows within a chunk stay in order.
template <class F>
void for_claimed_chunks(uint32_t* flags, int64_t nch, int tid, int nt, bool backwards, F&& f) {
  const int64_t q0 = nch * tid / nt, q1 = nch * (tid + 1) / nt;
  if (backwards) {
    for (int64_t q = q1 - 1; q >= q0; --q)
      if (claim(flags + q)) f(q);
  } else {
    for (int64_t q = q0; q < q1; ++q)
      if (claim(flags + q)) f(q);
  }
  for (int s = 1; s < nt; ++s) {
    const int o = (tid + s) % nt;
    const int64_t o0 = nch * o / nt, o1 = nch * (o + 1) / nt;
    if (backwards) {
      for (int64_t q = o0; q < o1; ++q)
        if (claim(flags + q)) f(q);
    } else {
      for (int64_t q = o1 - 1; q >= o0; --q)
        if (claim(flags + q)) f(q);
    }
  }
}

inline void team_barrier() {
#if defined(FG_OPENMP)
#pragma omp barrier
#endif
}

// Runs body(tid, team size) on a team of up to nt threads (the calling thread alone when
// nt == 1 or without OpenMP). body may call team_barrier().
template <class F>
void run_team(int nt, F&& body) {
#if defined(FG_OPENMP)
  if (nt > 1) {
#pragma omp parallel num_threads(nt)
    body(omp_get_thread_num(), omp_get_num_threads());
    return;
  }
#else
  (void)nt;
#endif
  body(0, 1);
}

// acc[0, 2c) = the chunk partials part[q·2c + j] summed over q in chunk order.
inline void merge_partials(const double* __restrict part, int64_t nch, int64_t c,
                           double* __restrict acc) {
  for (int64_t j = 0; j < 2 * c; ++j) acc[j] = nch > 0 ? part[j] : 0.0;
  for (int64_t q = 1; q < nch; ++q) {
    const double* __restrict p = part + 2 * c * q;
    for (int64_t j = 0; j < 2 * c; ++j) acc[j] += p[j];
  }
}

// Forward coefficients of every channel from the merged sums (acc[k] = Σd, acc[c + k] = Σd²,
// d = x - shift; overwritten): mean_t, scale (γ·invstd), beta_t; with write_stats, also the
// saved and running stats (one thread of the team writes those). !batch_stats: the running
// stats normalise. Each loop is branch-free so that it vectorises (double sqrt and division
// over 8 channels at a time): the per-channel work is most of a small batch's forward.
template <class T>
void forward_coeffs_2d(int64_t c, const T* __restrict shift, double* __restrict acc,
                       double count, bool batch_stats, const T* __restrict weight,
                       const T* __restrict bias, double factor, double eps, bool write_stats,
                       T* __restrict save_mean, T* __restrict save_invstd,
                       T* __restrict running_mean, T* __restrict running_var,
                       T* __restrict mean_t, T* __restrict scale, T* __restrict beta_t) {
  double* __restrict dm = acc;     // mean
  double* __restrict dv = acc + c;  // variance, then invstd
  if (batch_stats) {
    for (int64_t k = 0; k < c; ++k) {
      double mean, var;
      fm::bn_stats_finish(static_cast<double>(shift[k]), dm[k], dv[k], count, &mean, &var);
      dm[k] = mean;
      dv[k] = var;
    }
    if (write_stats && running_mean)
      for (int64_t k = 0; k < c; ++k)
        running_mean[k] = fm::bn_running_update(running_mean[k], dm[k], factor);
    if (write_stats && running_var) {
      if (count > 1.0) {
        for (int64_t k = 0; k < c; ++k)
          running_var[k] =
              fm::bn_running_update(running_var[k], dv[k] * count / (count - 1.0), factor);
      } else {
        for (int64_t k = 0; k < c; ++k)
          running_var[k] = fm::bn_running_update(running_var[k], dv[k], factor);
      }
    }
  } else {
    for (int64_t k = 0; k < c; ++k) {
      dm[k] = static_cast<double>(running_mean[k]);
      dv[k] = static_cast<double>(running_var[k]);
    }
  }
  for (int64_t k = 0; k < c; ++k) dv[k] = fm::bn_invstd(dv[k], eps);
  if (write_stats)
    for (int64_t k = 0; k < c; ++k) {
      save_mean[k] = static_cast<T>(dm[k]);
      save_invstd[k] = static_cast<T>(dv[k]);
    }
  for (int64_t k = 0; k < c; ++k) mean_t[k] = static_cast<T>(dm[k]);
  if (weight)
    for (int64_t k = 0; k < c; ++k)
      scale[k] = static_cast<T>(static_cast<double>(weight[k]) * dv[k]);
  else
    for (int64_t k = 0; k < c; ++k) scale[k] = static_cast<T>(dv[k]);
  for (int64_t k = 0; k < c; ++k) beta_t[k] = bias ? bias[k] : T(0);
}

template <class T>
void forward_2d(const T* x, const T* weight, const T* bias, T* y, T* save_mean,
                T* save_invstd, T* running_mean, T* running_var, int64_t n, int64_t c,
                bool batch_stats, double factor, double eps, int threads, double* dscr,
                T* tscr, uint32_t* flags) {
  const double count = static_cast<double>(n);
  const int64_t rows = bn_chunk_rows(c);
  const int64_t nch = bn_chunks(n, c);
  double* part = dscr;                     // 2c per chunk
  double* shift_acc = dscr + 2 * c * nch;  // c
  double* merged = shift_acc + c;          // 2c per thread
  T* shift = tscr;                         // c
  T* per_thread = tscr + 2 * c;            // 5c per thread: blk (2c), mean, scale, beta
  if (batch_stats) {
    // Provisional mean: the average of the first few rows (Note [batch-norm statistics]).
    const int64_t ns = min64(n, kShiftRows);
    for (int64_t k = 0; k < c; ++k) shift_acc[k] = 0.0;
    for (int64_t i = 0; i < ns; ++i)
      for (int64_t k = 0; k < c; ++k) shift_acc[k] += static_cast<double>(x[i * c + k]);
    for (int64_t k = 0; k < c; ++k)
      shift[k] = static_cast<T>(ns > 0 ? shift_acc[k] / static_cast<double>(ns) : 0.0);
  }
  run_team(threads, [&](int tid, int nt) {
    T* blk = per_thread + 5 * c * tid;
    T* mean_t = blk + 2 * c;
    T* scale = mean_t + c;
    T* beta_t = scale + c;
    double* acc = merged + 2 * c * tid;
    if (batch_stats) {
      for_claimed_chunks(flags, nch, tid, nt, false, [&](int64_t q) {
        chunk_sums_2d_impl<T, false>(nullptr, shift, x, shift, q * rows,
                                     min64(n, (q + 1) * rows), c, part + 2 * c * q,
                                     part + 2 * c * q + c, blk);
      });
      team_barrier();
      merge_partials(part, nch, c, acc);
    }
    forward_coeffs_2d<T>(c, shift, acc, count, batch_stats, weight, bias, factor, eps, tid == 0,
                         save_mean, save_invstd, running_mean, running_var, mean_t, scale,
                         beta_t);
    const T* __restrict mp = mean_t;
    const T* __restrict sp = scale;
    const T* __restrict bp = beta_t;
    const bool stream = kBnCanStream && n * c * static_cast<int64_t>(sizeof(T)) >= kBnStreamBytes;
    for_claimed_chunks(flags + nch, nch, tid, nt, true, [&](int64_t q) {
      for (int64_t i = q * rows, i1 = min64(n, (q + 1) * rows); i < i1; ++i) {
        const T* __restrict xr = x + i * c;
        T* __restrict yr = y + i * c;
        if (!stream) {
          for (int64_t k = 0; k < c; ++k) yr[k] = fm::bn_apply(xr[k], mp[k], sp[k], bp[k]);
          continue;
        }
#if defined(__AVX512F__)
        stream_row<T>(
            yr, c, [&](int64_t k) { return fma_t<T>(xr[k] - mp[k], sp[k], bp[k]); },
            [&](int64_t k) {
              if constexpr (sizeof(T) == 4)
                return _mm512_fmadd_ps(
                    _mm512_sub_ps(_mm512_loadu_ps(xr + k), _mm512_loadu_ps(mp + k)),
                    _mm512_loadu_ps(sp + k), _mm512_loadu_ps(bp + k));
              else
                return _mm512_fmadd_pd(
                    _mm512_sub_pd(_mm512_loadu_pd(xr + k), _mm512_loadu_pd(mp + k)),
                    _mm512_loadu_pd(sp + k), _mm512_loadu_pd(bp + k));
            });
#endif
      }
    });
    if (stream) stream_fence();
  });
}

template <class T>
void forward(const T* x, const T* weight, const T* bias, T* y, T* save_mean, T* save_invstd,
             T* running_mean, T* running_var, int64_t n, int64_t c, int64_t l, bool batch_stats,
             double factor, double eps, int threads, double* dscr, T* tscr, uint32_t* flags) {
  if (c == 0) return;
  if (l == 1) {
    forward_2d<T>(x, weight, bias, y, save_mean, save_invstd, running_mean, running_var, n, c,
                  batch_stats, factor, eps, threads, dscr, tscr, flags);
    return;
  }
  const double count = static_cast<double>(n * l);
  // One task per channel: see the file comment. The provisional mean is the first row's.
  parallel_for(c, n * l, [&](int64_t lo, int64_t hi) {
    for (int64_t k = lo; k < hi; ++k) {
      double shift = 0, sd = 0, sd2 = 0;
      if (batch_stats && n > 0) {
        double r12, r1;
        row_sums<T>(nullptr, T(0), x + k * l, T(0), l, &r12, &r1);
        shift = static_cast<double>(static_cast<T>(r1 / static_cast<double>(l)));
        channel_sums_3d<T>(nullptr, T(0), x, static_cast<T>(shift), n, c, l, k, &sd, &sd2);
      }
      T mk, sk, bk;
      finish_channel<T>(k, shift, sd, sd2, count, batch_stats, weight, bias, save_mean,
                        save_invstd, running_mean, running_var, factor, eps, &mk, &sk, &bk);
      for (int64_t i = 0; i < n; ++i) {
        const T* __restrict xr = x + (i * c + k) * l;
        T* __restrict yr = y + (i * c + k) * l;
        for (int64_t j = 0; j < l; ++j) yr[j] = fm::bn_apply(xr[j], mk, sk, bk);
      }
    }
  });
}

// Backward coefficients of every channel from the merged sums Σdy, Σdy·(x - mean): k, a, b of
// bn_backward_input; with write_grads, also gweight and gbias. Branch-free loops (see
// forward_coeffs_2d).
template <class T>
void backward_coeffs_2d(int64_t c, const double* __restrict sdy,
                        const double* __restrict sdyx, const T* __restrict save_invstd,
                        const T* __restrict weight, double count, bool batch_stats,
                        bool write_grads, T* __restrict gweight, T* __restrict gbias,
                        T* __restrict k_t, T* __restrict a_t, T* __restrict b_t) {
  auto run = [&](auto has_weight, auto batch) {
    for (int64_t k = 0; k < c; ++k)
      fm::bn_backward_coeffs(sdy[k], sdyx[k], static_cast<double>(save_invstd[k]),
                             has_weight ? static_cast<double>(weight[k]) : 1.0, count, batch,
                             &k_t[k], &a_t[k], &b_t[k]);
  };
  auto with_batch = [&](auto has_weight) {
    if (batch_stats)
      run(has_weight, std::true_type{});
    else
      run(has_weight, std::false_type{});
  };
  if (weight)
    with_batch(std::true_type{});
  else
    with_batch(std::false_type{});
  if (write_grads && gbias)
    for (int64_t k = 0; k < c; ++k) gbias[k] = static_cast<T>(sdy[k]);
  if (write_grads && gweight)
    for (int64_t k = 0; k < c; ++k)
      gweight[k] = static_cast<T>(sdyx[k] * static_cast<double>(save_invstd[k]));
}

template <class T>
void backward_2d(const T* x, const T* gy, const T* weight, const T* save_mean,
                 const T* save_invstd, T* gx, T* gweight, T* gbias, int64_t n, int64_t c,
                 bool batch_stats, int threads, double* dscr, T* tscr, uint32_t* flags) {
  const double count = static_cast<double>(n);
  const int64_t rows = bn_chunk_rows(c);
  const int64_t nch = bn_chunks(n, c);
  double* part = dscr;
  double* merged = dscr + 2 * c * nch + c;
  T* zero = tscr;
  T* per_thread = tscr + 2 * c;
  for (int64_t k = 0; k < c; ++k) zero[k] = T(0);
  run_team(threads, [&](int tid, int nt) {
    T* blk = per_thread + 5 * c * tid;
    T* k_t = blk + 2 * c;
    T* a_t = k_t + c;
    T* b_t = a_t + c;
    double* acc = merged + 2 * c * tid;
    for_claimed_chunks(flags, nch, tid, nt, false, [&](int64_t q) {
      chunk_sums_2d_impl<T, true>(x, save_mean, gy, zero, q * rows, min64(n, (q + 1) * rows),
                                  c, part + 2 * c * q, part + 2 * c * q + c, blk);
    });
    team_barrier();
    merge_partials(part, nch, c, acc);
    backward_coeffs_2d<T>(c, acc, acc + c, save_invstd, weight, count, batch_stats, tid == 0,
                          gweight, gbias, k_t, a_t, b_t);
    if (!gx) return;
    const T* __restrict mp = save_mean;
    const T* __restrict kp = k_t;
    const T* __restrict ap = a_t;
    const T* __restrict bp = b_t;
    const bool stream = kBnCanStream && n * c * static_cast<int64_t>(sizeof(T)) >= kBnStreamBytes;
    for_claimed_chunks(flags + nch, nch, tid, nt, true, [&](int64_t q) {
      for (int64_t i = q * rows, i1 = min64(n, (q + 1) * rows); i < i1; ++i) {
        const T* xr = x + i * c;
        const T* gr = gy + i * c;  // may alias gx: same index read then written
        T* out = gx + i * c;
        if (!stream) {
          for (int64_t k = 0; k < c; ++k)
            out[k] = fm::bn_backward_input(xr[k], gr[k], mp[k], kp[k], ap[k], bp[k]);
          continue;
        }
#if defined(__AVX512F__)
        stream_row<T>(
            out, c,
            [&](int64_t k) {
              return fma_t<T>(gr[k], kp[k], fma_t<T>(xr[k] - mp[k], ap[k], bp[k]));
            },
            [&](int64_t k) {
              if constexpr (sizeof(T) == 4)
                return _mm512_fmadd_ps(
                    _mm512_loadu_ps(gr + k), _mm512_loadu_ps(kp + k),
                    _mm512_fmadd_ps(
                        _mm512_sub_ps(_mm512_loadu_ps(xr + k), _mm512_loadu_ps(mp + k)),
                        _mm512_loadu_ps(ap + k), _mm512_loadu_ps(bp + k)));
              else
                return _mm512_fmadd_pd(
                    _mm512_loadu_pd(gr + k), _mm512_loadu_pd(kp + k),
                    _mm512_fmadd_pd(
                        _mm512_sub_pd(_mm512_loadu_pd(xr + k), _mm512_loadu_pd(mp + k)),
                        _mm512_loadu_pd(ap + k), _mm512_loadu_pd(bp + k)));
            });
#endif
      }
    });
    if (stream) stream_fence();
  });
}

template <class T>
void backward(const T* x, const T* gy, const T* weight, const T* save_mean,
              const T* save_invstd, T* gx, T* gweight, T* gbias, int64_t n, int64_t c,
              int64_t l, bool batch_stats, int threads, double* dscr, T* tscr,
              uint32_t* flags) {
  if (c == 0) return;
  if (l == 1) {
    backward_2d<T>(x, gy, weight, save_mean, save_invstd, gx, gweight, gbias, n, c,
                   batch_stats, threads, dscr, tscr, flags);
    return;
  }
  const double count = static_cast<double>(n * l);
  parallel_for(c, 2 * n * l, [&](int64_t lo, int64_t hi) {
    for (int64_t k = lo; k < hi; ++k) {
      const T mk = save_mean[k];
      double sdy, sdyx;
      channel_sums_3d<T>(x, mk, gy, T(0), n, c, l, k, &sdy, &sdyx);
      const double invstd = static_cast<double>(save_invstd[k]);
      if (gbias) gbias[k] = static_cast<T>(sdy);
      if (gweight) gweight[k] = static_cast<T>(sdyx * invstd);
      T kk, ak, bk;
      fm::bn_backward_coeffs(sdy, sdyx, invstd, weight ? static_cast<double>(weight[k]) : 1.0,
                             count, batch_stats, &kk, &ak, &bk);
      if (!gx) continue;
      for (int64_t i = 0; i < n; ++i) {
        const int64_t off = (i * c + k) * l;
        for (int64_t j = 0; j < l; ++j)
          gx[off + j] = fm::bn_backward_input(x[off + j], gy[off + j], mk, kk, ak, bk);
      }
    }
  });
}

template <class T>
NormKernels<T> make_table() {
  return NormKernels<T>{&forward<T>, &backward<T>};
}

}  // namespace
}  // namespace fg::cpu::FG_NORM_ISA

namespace fg::cpu {
NormKernels<float> FG_NORM_TABLE_F32() { return FG_NORM_ISA::make_table<float>(); }
NormKernels<double> FG_NORM_TABLE_F64() { return FG_NORM_ISA::make_table<double>(); }
}  // namespace fg::cpu
