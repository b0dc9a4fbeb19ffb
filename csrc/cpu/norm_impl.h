// The batch-norm loops, compiled once per instruction set: norm.cpp (baseline x86-64),
// norm_v3.cpp (x86-64-v3) and norm_v4.cpp (x86-64-v4) each define FG_NORM_ISA (a namespace
// name) and FG_NORM_TABLE_F32/F64 (the table getters) and include this file. Contracts are in
// cpu/norm.h, per-element math in math/norm.h.
//
// Layout (n, c, l), C-contiguous. Two loop shapes:
//   l == 1 (2-D input): blocks of channels over all rows (Note [batch-norm channel blocks] in
//     cpu/norm.h), or, for very tall input, fixed chunks of rows (bn_chunk_rows) giving
//     per-channel partial sums merged in chunk order. Either way the inner loops run over the
//     contiguous channels, so they vectorise without any reduction across lanes.
//   l > 1: one task per channel does everything for that channel (statistics, running stats,
//     output); the rows of length l are reduced with lane accumulators (the compiler does not
//     vectorise a plain floating-point sum, which would need reassociation).
// Sums are accumulated in T over short blocks and folded into double (Note [batch-norm
// statistics] in math/norm.h).
#if !defined(FG_NORM_ISA) || !defined(FG_NORM_TABLE_F32) || !defined(FG_NORM_TABLE_F64)
#error "define FG_NORM_ISA, FG_NORM_TABLE_F32 and FG_NORM_TABLE_F64 before including"
#endif

#include <stdint.h>

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

// l == 1, rows [r0, r1) of c channels, rows ld elements apart: s1[k] = Σ (b - mb[k]),
// s2[k] = Σ (a - ma[k])·(b - mb[k]), or Σ (b - mb[k])² when a == nullptr. blk: 2c elements of
// scratch.
template <class T>
void chunk_sums_2d(const T* a, const T* __restrict ma, const T* b, const T* __restrict mb,
                   int64_t r0, int64_t r1, int64_t ld, int64_t c, double* __restrict s1,
                   double* __restrict s2, T* __restrict blk) {
  T* __restrict b1 = blk;
  T* __restrict b2 = blk + c;
  for (int64_t k = 0; k < c; ++k) s1[k] = s2[k] = 0.0;
  for (int64_t q0 = r0; q0 < r1; q0 += kBlockRows) {
    const int64_t q1 = min64(r1, q0 + kBlockRows);
    for (int64_t k = 0; k < 2 * c; ++k) blk[k] = T(0);
    for (int64_t i = q0; i < q1; ++i) {
      const T* __restrict br = b + i * ld;
      if (a) {
        const T* __restrict ar = a + i * ld;
        for (int64_t k = 0; k < c; ++k) {
          const T db = br[k] - mb[k];
          b1[k] += db;
          b2[k] += (ar[k] - ma[k]) * db;
        }
      } else {
        for (int64_t k = 0; k < c; ++k) {
          const T db = br[k] - mb[k];
          b1[k] += db;
          b2[k] += db * db;
        }
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

template <class T>
void forward(const T* x, const T* weight, const T* bias, T* y, T* save_mean, T* save_invstd,
             T* running_mean, T* running_var, int64_t n, int64_t c, int64_t l, bool batch_stats,
             double factor, double eps, double* dscr, T* tscr) {
  if (c == 0) return;
  const double count = static_cast<double>(n * l);
  if (l > 1) {
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
    return;
  }
  T* shift = tscr;
  T* scale = tscr + c;
  T* beta_t = tscr + 2 * c;
  T* mean_t = tscr + 3 * c;
  const int64_t w = bn_block_channels(n, c, static_cast<int64_t>(sizeof(T)));
  if (w > 0) {
    // Channel blocks, see Note [batch-norm channel blocks]; scratch is per channel, so the
    // blocks never share any.
    const int64_t nblocks = (c + w - 1) / w;
    parallel_for(nblocks, 3 * n * w, [&](int64_t lo, int64_t hi) {
      for (int64_t q = lo; q < hi; ++q) {
        const int64_t k0 = q * w, wk = min64(c, k0 + w) - k0;
        if (batch_stats) {
          const int64_t ns = min64(n, kShiftRows);
          for (int64_t k = k0; k < k0 + wk; ++k) {
            double s = 0;
            for (int64_t i = 0; i < ns; ++i) s += static_cast<double>(x[i * c + k]);
            shift[k] = static_cast<T>(ns > 0 ? s / static_cast<double>(ns) : 0.0);
          }
          chunk_sums_2d<T>(nullptr, shift + k0, x + k0, shift + k0, 0, n, c, wk, dscr + k0,
                           dscr + c + k0, tscr + 4 * c + 2 * k0);
        }
        for (int64_t k = k0; k < k0 + wk; ++k)
          finish_channel<T>(k, batch_stats ? static_cast<double>(shift[k]) : 0.0,
                            batch_stats ? dscr[k] : 0.0, batch_stats ? dscr[c + k] : 0.0, count,
                            batch_stats, weight, bias, save_mean, save_invstd, running_mean,
                            running_var, factor, eps, &mean_t[k], &scale[k], &beta_t[k]);
        const T* __restrict mp = mean_t + k0;
        const T* __restrict sp = scale + k0;
        const T* __restrict bp = beta_t + k0;
        for (int64_t i = 0; i < n; ++i) {
          const T* __restrict xr = x + i * c + k0;
          T* __restrict yr = y + i * c + k0;
          for (int64_t k = 0; k < wk; ++k) yr[k] = fm::bn_apply(xr[k], mp[k], sp[k], bp[k]);
        }
      }
    });
    return;
  }
  if (batch_stats) {
    // Provisional mean: the average of the first few rows (see Note [batch-norm statistics]).
    const int64_t ns = min64(n, kShiftRows);
    for (int64_t k = 0; k < c; ++k) {
      double s = 0;
      for (int64_t i = 0; i < ns; ++i) s += static_cast<double>(x[i * c + k]);
      shift[k] = static_cast<T>(ns > 0 ? s / static_cast<double>(ns) : 0.0);
    }
    const int64_t rows = bn_chunk_rows(c);
    const int64_t nchunks = bn_chunks(n, c);
    T* blk = tscr + 4 * c;
    parallel_chunks(nchunks, rows * c, [&](int64_t q) {
      chunk_sums_2d<T>(nullptr, shift, x, shift, q * rows, min64(n, (q + 1) * rows), c, c,
                       dscr + 2 * c * q, dscr + 2 * c * q + c, blk + 2 * c * q);
    });
    for (int64_t k = 0; k < c; ++k) {
      double sd = 0, sd2 = 0;
      for (int64_t q = 0; q < nchunks; ++q) {
        sd += dscr[2 * c * q + k];
        sd2 += dscr[2 * c * q + c + k];
      }
      finish_channel<T>(k, static_cast<double>(shift[k]), sd, sd2, count, true, weight, bias,
                        save_mean, save_invstd, running_mean, running_var, factor, eps,
                        &mean_t[k], &scale[k], &beta_t[k]);
    }
  } else {
    for (int64_t k = 0; k < c; ++k)
      finish_channel<T>(k, 0.0, 0.0, 0.0, count, false, weight, bias, save_mean, save_invstd,
                        running_mean, running_var, factor, eps, &mean_t[k], &scale[k],
                        &beta_t[k]);
  }
  parallel_for(n, c, [&](int64_t lo, int64_t hi) {
    const T* __restrict mp = mean_t;
    const T* __restrict sp = scale;
    const T* __restrict bp = beta_t;
    for (int64_t i = lo; i < hi; ++i) {
      const T* __restrict xr = x + i * c;
      T* __restrict yr = y + i * c;
      for (int64_t k = 0; k < c; ++k) yr[k] = fm::bn_apply(xr[k], mp[k], sp[k], bp[k]);
    }
  });
}

template <class T>
void backward(const T* x, const T* gy, const T* weight, const T* save_mean,
              const T* save_invstd, T* gx, T* gweight, T* gbias, int64_t n, int64_t c,
              int64_t l, bool batch_stats, double* dscr, T* tscr) {
  if (c == 0) return;
  const double count = static_cast<double>(n * l);
  auto coeffs = [&](int64_t k, double sdy, double sdyx, T* kk, T* ak, T* bk) {
    const double invstd = static_cast<double>(save_invstd[k]);
    if (gbias) gbias[k] = static_cast<T>(sdy);
    if (gweight) gweight[k] = static_cast<T>(sdyx * invstd);
    fm::bn_backward_coeffs(sdy, sdyx, invstd, weight ? static_cast<double>(weight[k]) : 1.0,
                           count, batch_stats, kk, ak, bk);
  };
  if (l > 1) {
    parallel_for(c, 2 * n * l, [&](int64_t lo, int64_t hi) {
      for (int64_t k = lo; k < hi; ++k) {
        const T mk = save_mean[k];
        double sdy, sdyx;
        channel_sums_3d<T>(x, mk, gy, T(0), n, c, l, k, &sdy, &sdyx);
        T kk, ak, bk;
        coeffs(k, sdy, sdyx, &kk, &ak, &bk);
        if (!gx) continue;
        for (int64_t i = 0; i < n; ++i) {
          const int64_t off = (i * c + k) * l;
          for (int64_t j = 0; j < l; ++j)
            gx[off + j] = fm::bn_backward_input(x[off + j], gy[off + j], mk, kk, ak, bk);
        }
      }
    });
    return;
  }
  T* k_t = tscr;
  T* a_t = tscr + c;
  T* b_t = tscr + 2 * c;
  T* zero = tscr + 3 * c;
  for (int64_t k = 0; k < c; ++k) zero[k] = T(0);
  const int64_t w = bn_block_channels(n, c, static_cast<int64_t>(sizeof(T)));
  if (w > 0) {  // channel blocks, see Note [batch-norm channel blocks]
    const int64_t nblocks = (c + w - 1) / w;
    parallel_for(nblocks, 5 * n * w, [&](int64_t lo, int64_t hi) {
      for (int64_t q = lo; q < hi; ++q) {
        const int64_t k0 = q * w, wk = min64(c, k0 + w) - k0;
        chunk_sums_2d<T>(x + k0, save_mean + k0, gy + k0, zero + k0, 0, n, c, wk, dscr + k0,
                         dscr + c + k0, tscr + 4 * c + 2 * k0);
        for (int64_t k = k0; k < k0 + wk; ++k)
          coeffs(k, dscr[k], dscr[c + k], &k_t[k], &a_t[k], &b_t[k]);
        if (!gx) continue;
        const T* __restrict mp = save_mean + k0;
        const T* __restrict kp = k_t + k0;
        const T* __restrict ap = a_t + k0;
        const T* __restrict bp = b_t + k0;
        for (int64_t i = 0; i < n; ++i) {
          const T* xr = x + i * c + k0;
          const T* gr = gy + i * c + k0;  // may alias gx: same index read then written
          T* out = gx + i * c + k0;
          for (int64_t k = 0; k < wk; ++k)
            out[k] = fm::bn_backward_input(xr[k], gr[k], mp[k], kp[k], ap[k], bp[k]);
        }
      }
    });
    return;
  }
  const int64_t rows = bn_chunk_rows(c);
  const int64_t nchunks = bn_chunks(n, c);
  T* blk = tscr + 4 * c;
  parallel_chunks(nchunks, 2 * rows * c, [&](int64_t q) {
    chunk_sums_2d<T>(x, save_mean, gy, zero, q * rows, min64(n, (q + 1) * rows), c, c,
                     dscr + 2 * c * q, dscr + 2 * c * q + c, blk + 2 * c * q);
  });
  for (int64_t k = 0; k < c; ++k) {
    double sdy = 0, sdyx = 0;
    for (int64_t q = 0; q < nchunks; ++q) {
      sdy += dscr[2 * c * q + k];
      sdyx += dscr[2 * c * q + c + k];
    }
    coeffs(k, sdy, sdyx, &k_t[k], &a_t[k], &b_t[k]);
  }
  if (!gx) return;
  parallel_for(n, 2 * c, [&](int64_t lo, int64_t hi) {
    const T* __restrict mp = save_mean;
    const T* __restrict kp = k_t;
    const T* __restrict ap = a_t;
    const T* __restrict bp = b_t;
    for (int64_t i = lo; i < hi; ++i) {
      const T* xr = x + i * c;
      const T* gr = gy + i * c;  // may alias gx: same index read then written
      T* out = gx + i * c;
      for (int64_t k = 0; k < c; ++k)
        out[k] = fm::bn_backward_input(xr[k], gr[k], mp[k], kp[k], ap[k], bp[k]);
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
