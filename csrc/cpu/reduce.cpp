// Reduction loops (contracts in cpu/reduce.h). Per-element math comes from math/reduce.h.
//
// Note [reduction plan]
// The kept dims (output order, fixed) and the reduced dims (any order: every value reduction
// here is commutative) are simplified separately: size-1 dims dropped, reduced dims sorted by
// decreasing |stride|, neighbours merged when contiguous with each other. Then:
// - vertical: the innermost kept dim has stride 1 and the reduced dims do not. Outputs are
//   split into stripes of columns (Note [column sums]); a task streams a chunk of reduced "rows"
//   and accumulates each row into its stripe (a contiguous, vectorised update). Partial
//   results of row chunks go to a scratch array, folded in chunk order. This is the column
//   sum of a C-contiguous matrix (bias gradients, un-broadcasting) without stride-N loops.
// - inner: everything else. Each output folds runs along the innermost reduced dim; a
//   stride-1 run uses kLanes independent accumulators (vectorised, no reassociation by the
//   compiler needed). Few outputs with long reductions are split into fixed element chunks.
#include "cpu/reduce.h"

#include <stdlib.h>

#include <algorithm>
#include <type_traits>
#include <vector>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "cpu/elementwise.h"  // kMaxDims
#include "cpu/parallel.h"
#include "math/reduce.h"

namespace fg::cpu {
namespace {

using math::MaxReduce;
using math::MinReduce;
using math::PlainMap;
using math::SqDevMap;
using math::SumReduce;

using W = double;                       // accumulator across blocks and chunks
constexpr int kLanes = 16;              // independent accumulators of a stride-1 run
constexpr int64_t kBlock = 1024;        // terms folded in acc_t<T> before going to W
constexpr int64_t kStripe = 256;        // vertical argmax / argmin: output columns per task
// Vertical sums: accumulator bytes per task (L1-resident). See Note [column sums].
constexpr int64_t kColStripeBytes = 16 << 10;
constexpr int64_t kChunk = kParallelGrain;  // inner: elements per chunk of a long reduction
// Vertical: at most this many rows are folded in T before the partial goes to W (accuracy).
constexpr int64_t kMaxChunkRows = 1024;

struct Plan {
  int nk = 0, nr = 0;
  int64_t kshape[kMaxDims], kst[kMaxDims];
  int64_t rshape[kMaxDims], rst[kMaxDims];
  int64_t nout = 1, nred = 1;
};

// Drops size-1 dims and merges C-order neighbours; returns the new dim count.
int collapse(int n, const int64_t* shape, const int64_t* st, int64_t* oshape, int64_t* ost) {
  int m = 0;
  for (int d = 0; d < n; ++d) {
    if (shape[d] == 1) continue;
    if (m > 0 && ost[m - 1] == st[d] * shape[d]) {
      oshape[m - 1] *= shape[d];
      ost[m - 1] = st[d];
    } else {
      oshape[m] = shape[d];
      ost[m] = st[d];
      ++m;
    }
  }
  return m;
}

void make_plan(Plan& P, int ndim, const int64_t* shape, const int64_t* strides, int nkeep) {
  P.nout = 1;
  P.nred = 1;
  for (int d = 0; d < nkeep; ++d) P.nout *= shape[d];
  for (int d = nkeep; d < ndim; ++d) P.nred *= shape[d];
  P.nk = collapse(nkeep, shape, strides, P.kshape, P.kst);
  // Reduced dims by decreasing |stride| (stable), so the innermost one is the densest.
  const int nr = ndim - nkeep;
  int order[kMaxDims];
  for (int i = 0; i < nr; ++i) order[i] = nkeep + i;
  std::stable_sort(order, order + nr, [&](int a, int b) {
    return llabs(static_cast<long long>(strides[a])) > llabs(static_cast<long long>(strides[b]));
  });
  int64_t sshape[kMaxDims], sst[kMaxDims];
  for (int i = 0; i < nr; ++i) {
    sshape[i] = shape[order[i]];
    sst[i] = strides[order[i]];
  }
  P.nr = collapse(nr, sshape, sst, P.rshape, P.rst);
}

// A multi-index over (n, shape, st) with its element offset, stepped in C order.
struct Counter {
  int n;
  const int64_t* shape;
  const int64_t* st;
  int64_t idx[kMaxDims];
  int64_t off = 0;
  Counter(int n_, const int64_t* shape_, const int64_t* st_) : n(n_), shape(shape_), st(st_) {}
  void seek(int64_t linear) {
    off = 0;
    for (int d = n - 1; d >= 0; --d) {
      idx[d] = linear % shape[d];
      linear /= shape[d];
      off += idx[d] * st[d];
    }
  }
  void next() {
    for (int d = n - 1; d >= 0; --d) {
      off += st[d];
      if (++idx[d] < shape[d]) return;
      off -= st[d] * shape[d];
      idx[d] = 0;
    }
  }
};

// Turns the folded accumulator of one output into its value.
template <class T>
struct Finalize {
  enum Kind { kPlain, kMean, kVar } kind = kPlain;
  W count = 1, correction = 0;
  T operator()(W acc) const {
    if (kind == kMean) return static_cast<T>(acc / count);
    if (kind == kVar) return static_cast<T>(math::var_finalize(acc, count, correction));
    return static_cast<T>(acc);
  }
};

// Folds n elements p[0], p[s], ... (after Map with parameter m) into a W.
// Note [SSE2 max/min]
// gcc vectorises a max/min fold only under no-NaN math (maxps is not IEEE max on nan), so the
// nan-propagating fold of math/reduce.h ran scalar and branchy: 12x slower than NumPy on 4M
// floats. Contiguous max/min runs therefore use SSE2 (baseline x86-64) with the nan check kept
// separately: any nan in the run gives nan, as MaxReduce / MinReduce define.
#if defined(__SSE2__)
template <bool kMin, class T>
T minmax_combine(T acc, T v) {
  return kMin ? math::MinReduce::combine(acc, v) : math::MaxReduce::combine(acc, v);
}

template <bool kMin>
float minmax_contig(const float* p, int64_t n) {
  const float init = kMin ? math::hd_infinity<float>() : -math::hd_infinity<float>();
  __m128 a0 = _mm_set1_ps(init), a1 = a0, bad = _mm_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128 v0 = _mm_loadu_ps(p + i), v1 = _mm_loadu_ps(p + i + 4);
    a0 = kMin ? _mm_min_ps(a0, v0) : _mm_max_ps(a0, v0);
    a1 = kMin ? _mm_min_ps(a1, v1) : _mm_max_ps(a1, v1);
    bad = _mm_or_ps(bad, _mm_cmpunord_ps(v0, v1));
  }
  if (_mm_movemask_ps(bad)) return __builtin_nanf("");
  alignas(16) float l[8];
  _mm_store_ps(l, a0);
  _mm_store_ps(l + 4, a1);
  float r = init;
  for (int k = 0; k < 8; ++k) r = minmax_combine<kMin>(r, l[k]);
  for (; i < n; ++i) r = minmax_combine<kMin>(r, p[i]);
  return r;
}
template <bool kMin>
double minmax_contig(const double* p, int64_t n) {
  const double init = kMin ? math::hd_infinity<double>() : -math::hd_infinity<double>();
  __m128d a0 = _mm_set1_pd(init), a1 = a0, bad = _mm_setzero_pd();
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const __m128d v0 = _mm_loadu_pd(p + i), v1 = _mm_loadu_pd(p + i + 2);
    a0 = kMin ? _mm_min_pd(a0, v0) : _mm_max_pd(a0, v0);
    a1 = kMin ? _mm_min_pd(a1, v1) : _mm_max_pd(a1, v1);
    bad = _mm_or_pd(bad, _mm_cmpunord_pd(v0, v1));
  }
  if (_mm_movemask_pd(bad)) return __builtin_nan("");
  alignas(16) double l[4];
  _mm_store_pd(l, a0);
  _mm_store_pd(l + 2, a1);
  double r = init;
  for (int k = 0; k < 4; ++k) r = minmax_combine<kMin>(r, l[k]);
  for (; i < n; ++i) r = minmax_combine<kMin>(r, p[i]);
  return r;
}
#endif

template <class R, class M, class T>
W fold_run(const T* p, int64_t n, int64_t s, T m) {
#if defined(__SSE2__)
  constexpr bool kMinMax =
      std::is_same_v<M, PlainMap> &&
      (std::is_same_v<R, MaxReduce> || std::is_same_v<R, MinReduce>);
  if constexpr (kMinMax) {
    if (s == 1) return static_cast<W>(minmax_contig<std::is_same_v<R, MinReduce>>(p, n));
  }
#endif
  using A = math::acc_t<T>;
  W total = R::template identity<W>();
  for (int64_t b0 = 0; b0 < n; b0 += kBlock) {
    const int64_t nb = std::min(kBlock, n - b0);
    const T* q = p + b0 * s;
    A block;
    if (s == 1 && nb >= kLanes) {
      A lane[kLanes];
      for (int l = 0; l < kLanes; ++l) lane[l] = R::template identity<A>();
      int64_t i = 0;
      for (; i + kLanes <= nb; i += kLanes)
        for (int l = 0; l < kLanes; ++l)
          lane[l] = R::combine(lane[l], static_cast<A>(M::apply(q[i + l], m)));
      for (; i < nb; ++i) lane[0] = R::combine(lane[0], static_cast<A>(M::apply(q[i], m)));
      for (int w = kLanes / 2; w > 0; w /= 2)
        for (int l = 0; l < w; ++l) lane[l] = R::combine(lane[l], lane[l + w]);
      block = lane[0];
    } else {
      block = R::template identity<A>();
      for (int64_t i = 0; i < nb; ++i)
        block = R::combine(block, static_cast<A>(M::apply(q[i * s], m)));
    }
    total = R::combine(total, static_cast<W>(block));
  }
  return total;
}

// Folds reduced elements [lo, hi) (C order over the plan's reduced dims) of one output.
template <class R, class M, class T>
W fold_range(const T* base, const Plan& P, int64_t lo, int64_t hi, T m) {
  if (P.nr == 0) return R::combine(R::template identity<W>(), static_cast<W>(M::apply(base[0], m)));
  const int64_t len = P.rshape[P.nr - 1], s = P.rst[P.nr - 1];
  Counter rows(P.nr - 1, P.rshape, P.rst);
  rows.seek(lo / len);
  int64_t col = lo % len;
  W total = R::template identity<W>();
  while (lo < hi) {
    const int64_t n = std::min(len - col, hi - lo);
    total = R::combine(total, fold_run<R, M>(base + rows.off + col * s, n, s, m));
    lo += n;
    col = 0;
    rows.next();
  }
  return total;
}

template <class R, class M, class T>
void reduce_inner(const T* x, T* out, const Plan& P, const T* param, const Finalize<T>& fin) {
  const bool per_output = P.nout >= 8 || P.nred < 2 * kChunk;
  if (per_output) {
    parallel_for(P.nout, P.nred, [&](int64_t lo, int64_t hi) {
      Counter k(P.nk, P.kshape, P.kst);
      k.seek(lo);
      for (int64_t o = lo; o < hi; ++o) {
        const T m = M::kUsesParam ? param[o] : T(0);
        out[o] = fin(fold_range<R, M>(x + k.off, P, 0, P.nred, m));
        k.next();
      }
    });
    return;
  }
  // Few outputs, long reductions: fixed chunks of each output's range, folded in order.
  const int64_t nchunks = (P.nred + kChunk - 1) / kChunk;
  std::vector<W> part(static_cast<size_t>(nchunks));
  Counter k(P.nk, P.kshape, P.kst);
  k.seek(0);
  for (int64_t o = 0; o < P.nout; ++o) {
    const T m = M::kUsesParam ? param[o] : T(0);
    const T* base = x + k.off;
    parallel_chunks(nchunks, kChunk, [&](int64_t c) {
      part[static_cast<size_t>(c)] =
          fold_range<R, M>(base, P, c * kChunk, std::min(P.nred, (c + 1) * kChunk), m);
    });
    W total = R::template identity<W>();
    for (int64_t c = 0; c < nchunks; ++c) total = R::combine(total, part[static_cast<size_t>(c)]);
    out[o] = fin(total);
    k.next();
  }
}

// Note [column sums]
// A task owns a stripe of output columns and a chunk of rows, and adds its rows into a
// stripe of accumulators that stays in L1. The stripe is the whole row when the accumulators
// fit in kColStripeBytes (4096 floats), so the input is streamed in memory order: with
// 256-column stripes a (4096, 1024) float column sum read each 4 KB row as four 1 KB pieces
// in four separate passes, and ran at 0.94x NumPy (which adds whole rows into the output).
// Narrower stripes are used only when there are too few row chunks to feed every thread.
// Accuracy depends on the row chunking only (at most kMaxChunkRows rows are summed in
// acc_t<T>, then double across chunks, folded in chunk order), which is chosen from the
// sizes alone, so results are the same for any stripe width or thread count.
template <class R, class M, class T>
void reduce_vertical(const T* x, T* out, const Plan& P, const T* param, const Finalize<T>& fin) {
  using A = math::acc_t<T>;
  constexpr int64_t kMaxStripe = kColStripeBytes / static_cast<int64_t>(sizeof(A));
  const int64_t L = P.kshape[P.nk - 1];
  const int64_t nouter = P.nout / L;
  // Rows per chunk: as before the whole-row stripes (kParallelGrain / 256 for wide rows).
  const int64_t rows_per_chunk = std::max<int64_t>(
      1, std::min(kMaxChunkRows, kParallelGrain / std::min<int64_t>(L, 256)));
  const int64_t nchunks = (P.nred + rows_per_chunk - 1) / rows_per_chunk;
  int64_t sw = std::min(L, kMaxStripe);
  const int nt = threads_for(P.nout * P.nred);
  if (nouter * nchunks < nt) {  // few rows: split the columns over the threads instead
    const int64_t per = (L + nt - 1) / nt;
    sw = std::min(sw, std::max<int64_t>(64, (per + 15) / 16 * 16));
  }
  const int64_t nstripes = (L + sw - 1) / sw;
  std::vector<W> part(nchunks > 1 ? static_cast<size_t>(nchunks * P.nout) : 0);
  const int64_t ntasks = nouter * nstripes * nchunks;
  parallel_chunks(ntasks, sw * std::min(rows_per_chunk, P.nred), [&](int64_t t) {
    const int64_t ch = t % nchunks;
    const int64_t rest = t / nchunks;
    const int64_t j0 = (rest % nstripes) * sw;
    const int64_t ok = rest / nstripes;
    const int64_t w = std::min(sw, L - j0);
    Counter outer(P.nk - 1, P.kshape, P.kst);
    outer.seek(ok);
    const T* base = x + outer.off + j0;
    const int64_t o0 = ok * L + j0;
    const T* mrow = M::kUsesParam ? param + o0 : nullptr;
    A acc[kMaxStripe];
    for (int64_t j = 0; j < w; ++j) acc[j] = R::template identity<A>();
    Counter rows(P.nr, P.rshape, P.rst);
    const int64_t r0 = ch * rows_per_chunk, r1 = std::min(P.nred, r0 + rows_per_chunk);
    rows.seek(r0);
    auto term = [&](const T* p, int64_t j) -> A {
      if constexpr (M::kUsesParam)
        return static_cast<A>(M::apply(p[j], mrow[j]));
      else
        return static_cast<A>(p[j]);
    };
    int64_t r = r0;
    // Four rows per sweep of the stripe: one load and store of acc per four input rows
    // (one per row ran at half NumPy's speed on a 4096 x 1024 column sum).
    for (; r + 4 <= r1; r += 4) {
      const T* __restrict p0 = base + rows.off;
      rows.next();
      const T* __restrict p1 = base + rows.off;
      rows.next();
      const T* __restrict p2 = base + rows.off;
      rows.next();
      const T* __restrict p3 = base + rows.off;
      rows.next();
      for (int64_t j = 0; j < w; ++j) {
        const A t01 = R::combine(term(p0, j), term(p1, j));
        const A t23 = R::combine(term(p2, j), term(p3, j));
        acc[j] = R::combine(acc[j], R::combine(t01, t23));
      }
    }
    for (; r < r1; ++r) {
      const T* __restrict p = base + rows.off;
      for (int64_t j = 0; j < w; ++j) acc[j] = R::combine(acc[j], term(p, j));
      rows.next();
    }
    if (nchunks == 1) {
      for (int64_t j = 0; j < w; ++j) out[o0 + j] = fin(static_cast<W>(acc[j]));
    } else {
      W* dst = part.data() + ch * P.nout + o0;
      for (int64_t j = 0; j < w; ++j) dst[j] = static_cast<W>(acc[j]);
    }
  });
  if (nchunks == 1) return;
  parallel_for(P.nout, nchunks, [&](int64_t lo, int64_t hi) {
    for (int64_t o = lo; o < hi; ++o) {
      W total = R::template identity<W>();
      for (int64_t c = 0; c < nchunks; ++c) total = R::combine(total, part[c * P.nout + o]);
      out[o] = fin(total);
    }
  });
}

// Runs one value reduction described by P (see Note [reduction plan]).
template <class R, class M, class T>
void reduce_plan(const T* x, T* out, const Plan& P, const T* param, const Finalize<T>& fin) {
  if (P.nout == 0) return;
  if (P.nred == 0) {
    const T v = fin(R::template identity<W>());
    for (int64_t o = 0; o < P.nout; ++o) out[o] = v;
    return;
  }
  const bool vertical = P.nk >= 1 && P.kst[P.nk - 1] == 1 && (P.nr == 0 || P.rst[P.nr - 1] != 1);
  if (vertical)
    reduce_vertical<R, M>(x, out, P, param, fin);
  else
    reduce_inner<R, M>(x, out, P, param, fin);
}

}  // namespace

template <class T>
void reduce_sum(const T* x, T* out, int ndim, const int64_t* shape, const int64_t* strides,
                int nkeep, bool mean) {
  Plan P;
  make_plan(P, ndim, shape, strides, nkeep);
  Finalize<T> fin;
  fin.kind = mean ? Finalize<T>::kMean : Finalize<T>::kPlain;
  fin.count = static_cast<W>(P.nred);
  reduce_plan<SumReduce, PlainMap>(x, out, P, static_cast<const T*>(nullptr), fin);
}

template <class T>
void reduce_max(const T* x, T* out, int ndim, const int64_t* shape, const int64_t* strides,
                int nkeep, bool is_min) {
  Plan P;
  make_plan(P, ndim, shape, strides, nkeep);
  Finalize<T> fin;
  if (is_min)
    reduce_plan<MinReduce, PlainMap>(x, out, P, static_cast<const T*>(nullptr), fin);
  else
    reduce_plan<MaxReduce, PlainMap>(x, out, P, static_cast<const T*>(nullptr), fin);
}

template <class T>
void reduce_var(const T* x, T* out, int ndim, const int64_t* shape, const int64_t* strides,
                int nkeep, double correction) {
  Plan P;
  make_plan(P, ndim, shape, strides, nkeep);
  if (P.nout == 0) return;
  // Pass 1: the means (rounded to T; the rounding shifts the second pass's sum by
  // count * rounding^2, far below T's precision). Pass 2: squared deviations.
  std::vector<T> mean(static_cast<size_t>(P.nout));
  Finalize<T> fin;
  fin.kind = Finalize<T>::kMean;
  fin.count = static_cast<W>(P.nred);
  reduce_plan<SumReduce, PlainMap>(x, mean.data(), P, static_cast<const T*>(nullptr), fin);
  fin.kind = Finalize<T>::kVar;
  fin.correction = correction;
  reduce_plan<SumReduce, SqDevMap>(x, out, P, static_cast<const T*>(mean.data()), fin);
}

namespace {
template <class S, class T>
void index_reduce(const T* x, T* values, int64_t* indices, int ndim, const int64_t* shape,
                  const int64_t* strides) {
  const int nk_in = ndim - 1;
  const int64_t n = shape[ndim - 1], s = strides[ndim - 1];
  Plan P;  // only the kept part is used
  P.nout = 1;
  for (int d = 0; d < nk_in; ++d) P.nout *= shape[d];
  if (P.nout == 0) return;
  P.nk = collapse(nk_in, shape, strides, P.kshape, P.kst);
  if (P.nk >= 1 && P.kst[P.nk - 1] == 1 && s != 1 && n > 1) {
    // vertical: stream the rows of the reduced axis into stripes of (best, index) pairs
    const int64_t L = P.kshape[P.nk - 1];
    const int64_t sw = std::min(L, kStripe);
    const int64_t nstripes = (L + sw - 1) / sw;
    parallel_chunks((P.nout / L) * nstripes, sw * n, [&](int64_t t) {
      const int64_t j0 = (t % nstripes) * sw, ok = t / nstripes;
      const int64_t w = std::min(sw, L - j0);
      Counter outer(P.nk - 1, P.kshape, P.kst);
      outer.seek(ok);
      const T* base = x + outer.off + j0;
      T* best = values + ok * L + j0;
      int64_t* bi = indices + ok * L + j0;
      for (int64_t j = 0; j < w; ++j) {
        best[j] = base[j];
        bi[j] = 0;
      }
      for (int64_t i = 1; i < n; ++i) {
        const T* p = base + i * s;
        for (int64_t j = 0; j < w; ++j) {
          if (S::better(p[j], best[j])) {
            best[j] = p[j];
            bi[j] = i;
          }
        }
      }
    });
    return;
  }
  parallel_for(P.nout, n, [&](int64_t lo, int64_t hi) {
    Counter k(P.nk, P.kshape, P.kst);
    k.seek(lo);
    for (int64_t o = lo; o < hi; ++o) {
      const T* p = x + k.off;
#if defined(__SSE2__)
      if (s == 1) {
        // Two passes over a contiguous row: the vectorised max / min (Note [SSE2 max/min]),
        // then the first index holding it (or the first nan): 4x faster than one
        // branchy pass.
        constexpr bool kMin = std::is_same_v<S, math::ArgMin>;
        const T best = minmax_contig<kMin>(p, n);
        int64_t bi = 0;
        if (best != best) {
          while (p[bi] == p[bi]) ++bi;
        } else {
          while (p[bi] != best) ++bi;
        }
        values[o] = best;
        indices[o] = bi;
        k.next();
        continue;
      }
#endif
      T best = p[0];
      int64_t bi = 0;
      for (int64_t i = 1; i < n; ++i) {
        const T v = p[i * s];
        if (S::better(v, best)) {
          best = v;
          bi = i;
        }
      }
      values[o] = best;
      indices[o] = bi;
      k.next();
    }
  });
}
}  // namespace

template <class T>
void reduce_with_index(const T* x, T* values, int64_t* indices, int ndim, const int64_t* shape,
                       const int64_t* strides, bool is_min) {
  if (is_min)
    index_reduce<math::ArgMin>(x, values, indices, ndim, shape, strides);
  else
    index_reduce<math::ArgMax>(x, values, indices, ndim, shape, strides);
}

#define FG_INST_REDUCE(T)                                                                    \
  template void reduce_sum<T>(const T*, T*, int, const int64_t*, const int64_t*, int, bool); \
  template void reduce_max<T>(const T*, T*, int, const int64_t*, const int64_t*, int, bool); \
  template void reduce_var<T>(const T*, T*, int, const int64_t*, const int64_t*, int,        \
                              double);                                                       \
  template void reduce_with_index<T>(const T*, T*, int64_t*, int, const int64_t*,            \
                                     const int64_t*, bool);
FG_INST_REDUCE(float)
FG_INST_REDUCE(double)
#undef FG_INST_REDUCE

}  // namespace fg::cpu
