// The packed GEMM of cpu/matmul.h, written once and compiled per ISA (see Note [GEMM structure]).
//
// Each including translation unit defines, before including this header:
//   FG_GEMM_NS      namespace for this instance (base, v3, v4)
//   FG_GEMM_VBYTES  bytes per vector register (16, 32, 64)
//   FG_GEMM_MR_F32, FG_GEMM_NV_F32, FG_GEMM_MR_F64, FG_GEMM_NV_F64: micro-tile = MR rows ×
//                   NV vectors; MR·NV accumulators + NV B vectors + 1 broadcast must fit in
//                   the register file (16 or 32 vector registers).
//   FG_GEMM_KC_F32, FG_GEMM_MC_F32, FG_GEMM_NC_F32 (and _F64): cache blocking (elements).
// then calls FG_GEMM_NS::make_table(name). Vectors are GCC vector extensions: plain loops
// auto-vectorise the micro-kernel poorly (TOOLCHAIN.md §3: 42-70 vs 136 GFLOP/s).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <new>
#include <utility>

#include "cpu/matmul.h"

#if defined(FG_OPENMP)
#include <omp.h>
#endif

namespace fg::cpu::FG_GEMM_NS {

using detail::GemmProblem;
using detail::GemmTable;

#define FG_GEMM_INLINE inline __attribute__((always_inline))

template <class T>
struct Vec;
template <>
struct Vec<float> {
  typedef float v __attribute__((vector_size(FG_GEMM_VBYTES)));
  // Unaligned, aliasing view for loads/stores from user memory (a plain memcpy load caused
  // stack round-trips: TOOLCHAIN.md §3 point 4).
  typedef float u __attribute__((vector_size(FG_GEMM_VBYTES), aligned(4), may_alias));
};
template <>
struct Vec<double> {
  typedef double v __attribute__((vector_size(FG_GEMM_VBYTES)));
  typedef double u __attribute__((vector_size(FG_GEMM_VBYTES), aligned(8), may_alias));
};

template <class T>
struct Cfg;
template <>
struct Cfg<float> {
  static constexpr int W = FG_GEMM_VBYTES / 4;
  static constexpr int MR = FG_GEMM_MR_F32, NV = FG_GEMM_NV_F32, NR = NV * W;
  static constexpr int64_t KC = FG_GEMM_KC_F32, MC = FG_GEMM_MC_F32, NC = FG_GEMM_NC_F32;
};
template <>
struct Cfg<double> {
  static constexpr int W = FG_GEMM_VBYTES / 8;
  static constexpr int MR = FG_GEMM_MR_F64, NV = FG_GEMM_NV_F64, NR = NV * W;
  static constexpr int64_t KC = FG_GEMM_KC_F64, MC = FG_GEMM_MC_F64, NC = FG_GEMM_NC_F64;
};

// ---- thread-local packing buffers (grown, never shrunk; no malloc per call) -------------
struct PackBuffer {
  void* p = nullptr;
  size_t cap = 0;
  PackBuffer() = default;
  PackBuffer(const PackBuffer&) = delete;
  PackBuffer& operator=(const PackBuffer&) = delete;
  ~PackBuffer() { std::free(p); }
  template <class T>
  T* get(int64_t elems) {
    // + 64 spare bytes: pack_a's overlapping vector stores may run one vector past the end.
    const size_t bytes = (static_cast<size_t>(elems) * sizeof(T) + 64 + 4095) / 4096 * 4096;
    if (bytes > cap) {
      std::free(p);
      p = std::aligned_alloc(4096, bytes);
      cap = p ? bytes : 0;
      if (!p) throw std::bad_alloc();
    }
    return static_cast<T*>(p);
  }
};
inline thread_local PackBuffer tl_pack_a, tl_pack_b;

// ---- W×W in-register transpose (log2 W stages of two-source shuffles) -------------------
template <class V, int W, int H, size_t... L>
FG_GEMM_INLINE void transpose_pair(V& x, V& y, std::index_sequence<L...>) {
  // Swap the H×H off-diagonal blocks of the 2-row group (x, y): after the stages for
  // H = W/2, ..., 1 the W rows hold the columns.
  const V lo = __builtin_shufflevector(x, y, (((L & H) != 0) ? W + L - H : L)...);
  const V hi = __builtin_shufflevector(x, y, (((L & H) != 0) ? W + L : L + H)...);
  x = lo;
  y = hi;
}
template <class V, int W, int H>
FG_GEMM_INLINE void transpose_stage(V* r) {
#pragma GCC unroll 16
  for (int i = 0; i < W; ++i)
    if ((i & H) == 0) transpose_pair<V, W, H>(r[i], r[i + H], std::make_index_sequence<W>{});
  if constexpr (H > 1) transpose_stage<V, W, H / 2>(r);
}

// ---- packing ----------------------------------------------------------------------------
// A block (mc×kc, A(i, p) = a[i*rs + p*cs]) -> MR-tall panels, each laid out [p][i] (kc×MR),
// rows past mc zero-filled.
template <class T>
void pack_a(const T* a, int64_t rs, int64_t cs, int64_t mc, int64_t kc, T* __restrict dst) {
  using V = typename Vec<T>::v;
  using U = typename Vec<T>::u;
  constexpr int MR = Cfg<T>::MR, W = Cfg<T>::W;
  for (int64_t i0 = 0; i0 < mc; i0 += MR, dst += MR * kc) {
    const int mr = static_cast<int>(std::min<int64_t>(MR, mc - i0));
    const T* s = a + i0 * rs;
    if (mr == MR && cs == 1) {
      // Row-major A: MR row streams, written interleaved. Groups of W rows: W values of each
      // row, transposed in registers, so vector pp holds column p + pp of the group's rows.
      const T* rows[MR];
      for (int i = 0; i < MR; ++i) rows[i] = s + i * rs;
      const int64_t kv = kc / W * W;
      // The last group may be short (MR = 24, W = 16: 8 rows). Its full-width stores run past
      // its slots into the next column's first rows, which the full groups, packed after it,
      // rewrite (as do the scalar tail and the next panel; the very last store ends inside
      // PackBuffer's W spare elements). Hence groups from the last to the first.
      constexpr int kGroups = (MR + W - 1) / W;
#pragma GCC unroll 4
      for (int grp = kGroups - 1; grp >= 0; --grp) {
        const int g0 = grp * W;
        for (int64_t p = 0; p < kv; p += W) {
          V r[W];
#pragma GCC unroll 16
          for (int i = 0; i < W; ++i)
            r[i] = *reinterpret_cast<const U*>(rows[g0 + i < MR ? g0 + i : g0] + p);
          transpose_stage<V, W, W / 2>(r);
#pragma GCC unroll 16
          for (int pp = 0; pp < W; ++pp) *reinterpret_cast<U*>(dst + (p + pp) * MR + g0) = r[pp];
        }
      }
      for (int64_t p = kv; p < kc; ++p) {
#pragma GCC unroll 32
        for (int i = 0; i < MR; ++i) dst[p * MR + i] = rows[i][p];
      }
    } else if (mr == MR && rs == 1) {
      // Column-major A (the dYᵀ of a weight gradient): MR contiguous values per p. A
      // fixed-size memcpy becomes vector moves; the element loop became scalar inserts.
      for (int64_t p = 0; p < kc; ++p) std::memcpy(dst + p * MR, s + p * cs, sizeof(T) * MR);
    } else {
      for (int64_t p = 0; p < kc; ++p) {
        for (int i = 0; i < mr; ++i) dst[p * MR + i] = s[i * rs + p * cs];
        for (int i = mr; i < MR; ++i) dst[p * MR + i] = T(0);
      }
    }
  }
}

// B block (kc×nc, B(p, j) = b[p*rs + j*cs]) -> NR-wide panels, each laid out [p][j] (kc×NR),
// columns past nc zero-filled.
template <class T>
void pack_b(const T* b, int64_t rs, int64_t cs, int64_t kc, int64_t nc, T* __restrict dst) {
  using V = typename Vec<T>::v;
  using U = typename Vec<T>::u;
  constexpr int W = Cfg<T>::W, NV = Cfg<T>::NV, NR = Cfg<T>::NR;
  int64_t j0 = 0;
  if (cs == 1) {
    // Row-major B: the full panels row by row, so B is read in its own order (one stream per
    // row, not kc rows a page apart per panel: 1024² spent 7% of its time here, not 3%).
    const int64_t full = nc / NR;
    for (int64_t p = 0; p < kc; ++p) {
      const T* src = b + p * rs;
      T* d = dst + p * NR;
      for (int64_t jp = 0; jp < full; ++jp) {
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v)
          *reinterpret_cast<V*>(d + jp * NR * kc + v * W) =
              *reinterpret_cast<const U*>(src + jp * NR + v * W);
      }
    }
    j0 = full * NR;
    dst += full * NR * kc;
  }
  for (; j0 < nc; j0 += NR, dst += NR * kc) {
    const int nr = static_cast<int>(std::min<int64_t>(NR, nc - j0));
    const T* s = b + j0 * cs;
    if (nr == NR && rs == 1) {
      // Bᵀ row-major (the W of X·Wᵀ): read W rows of W values, transpose in registers.
      int64_t p = 0;
      for (; p + W <= kc; p += W) {
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) {
          V r[W];
#pragma GCC unroll 16
          for (int jj = 0; jj < W; ++jj)
            r[jj] = *reinterpret_cast<const U*>(s + (v * W + jj) * cs + p);
          transpose_stage<V, W, W / 2>(r);
#pragma GCC unroll 16
          for (int pp = 0; pp < W; ++pp) *reinterpret_cast<V*>(dst + (p + pp) * NR + v * W) = r[pp];
        }
      }
      for (; p < kc; ++p)
        for (int j = 0; j < NR; ++j) dst[p * NR + j] = s[j * cs + p];
    } else {
      for (int64_t p = 0; p < kc; ++p) {
        for (int j = 0; j < nr; ++j) dst[p * NR + j] = s[p * rs + j * cs];
        for (int j = nr; j < NR; ++j) dst[p * NR + j] = T(0);
      }
    }
  }
}

// ---- micro-kernel + store step ----------------------------------------------------------
struct StoreMode {
  bool accumulate;  // C += tile (a later KC block) instead of C = tile
  bool last;        // last KC block: apply bias and activation
  bool relu;
};

// C tile (mr×nr at c, strides c_rs, c_cs) <- (C +) packed A panel (kc×MR) · B panel (kc×NR,
// rows ldb apart: NR when packed, B's row stride when read in place), then, on the last KC
// block, + bias and ReLU. bias_col points at this tile's first column's bias (or nullptr),
// bias_row at its first row's. c_next: the C tile the caller computes next (or nullptr).
// ROWS < MR computes only the first ROWS rows of the (MR-wide) A panel: a short last panel
// (m = 128 = 10·12 + 8) then costs 8 rows of FMAs, not 12. VECS < NV likewise computes only
// the first VECS vectors of each B row (the 16-column last panel of n = 784).
template <class T, int ROWS = Cfg<T>::MR, int VECS = Cfg<T>::NV>
FG_GEMM_INLINE void micro_tile(int64_t kc, const T* __restrict pa, const T* __restrict pb,
                               int64_t ldb, T* c, int64_t c_rs, int64_t c_cs, int mr, int nr,
                               StoreMode mode, const T* bias_col, const T* bias_row,
                               const T* c_next) {
  using V = typename Vec<T>::v;
  using U = typename Vec<T>::u;
  constexpr int W = Cfg<T>::W, MR = ROWS, NV = VECS, NR = VECS * W;
  constexpr int kStride = Cfg<T>::MR;  // A panel values per p
  constexpr int kLine = 64 / int(sizeof(T));
  // Pull C toward L1 while the k loop runs, or the store step stalls on its write misses
  // once per tile. A long k loop hides the latency of this tile's own lines; a short one
  // (k = 10: ~120 cycles) cannot, so it fetches the next tile's lines for the next call.
  if (c_cs == 1) {
    if (kc >= 32) {
      for (int i = 0; i < mr; ++i)
        for (int j = 0; j < nr; j += kLine) __builtin_prefetch(c + i * c_rs + j, 1, 3);
    } else if (c_next) {
#pragma GCC unroll 32
      for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
        for (int j = 0; j < NR; j += kLine) __builtin_prefetch(c_next + i * c_rs + j, 1, 3);
    }
  }
  V acc[MR][NV];
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[i][v] = V{};
  for (int64_t p = 0; p < kc; ++p) {
    V bv[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) bv[v] = *reinterpret_cast<const U*>(pb + v * W);
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i) {
      const T ai = pa[i];
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[i][v] += ai * bv[v];
    }
    pa += kStride;
    pb += ldb;
  }
  // Store step. The order (C_old + tile) + bias, then ReLU, is the unfused path's order
  // (matmul, then add, then relu), so fused and unfused results are bitwise equal.
  const bool epilogue = mode.last && (bias_col || bias_row || mode.relu);
  if (nr == NR && c_cs == 1 && !mode.accumulate && !epilogue) {
    // Plain store (the first and only KC block of a product without epilogue).
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i) {
      if (i >= mr) break;
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) *reinterpret_cast<U*>(c + i * c_rs + v * W) = acc[i][v];
    }
    return;
  }
  if (nr == NR && c_cs == 1) {
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i) {
      if (i >= mr) break;
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) {
        U* cp = reinterpret_cast<U*>(c + i * c_rs + v * W);
        V r = acc[i][v];
        if (mode.accumulate) r = *cp + r;
        if (mode.last) {
          if (bias_col) r = r + *reinterpret_cast<const U*>(bias_col + v * W);
          if (bias_row) r = r + bias_row[i];
          if (mode.relu) r = r < T(0) ? V{} : r;
        }
        *cp = r;
      }
    }
    return;
  }
  alignas(64) T tile[MR * NR];
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) *reinterpret_cast<V*>(tile + i * NR + v * W) = acc[i][v];
  for (int i = 0; i < mr; ++i) {
    for (int j = 0; j < nr; ++j) {
      T* cp = c + i * c_rs + j * c_cs;
      T r = tile[i * NR + j];
      if (mode.accumulate) r = *cp + r;
      if (mode.last) {
        if (bias_col) r = r + bias_col[j];
        if (bias_row) r = r + bias_row[i];
        if (mode.relu) r = r < T(0) ? T(0) : r;
      }
      *cp = r;
    }
  }
}

// ---- blocked driver for one thread's block C[m0:m1, n0:n1] ---------------------------
// Block sizes split a dimension into equal parts (rounded up to `unit`) instead of full
// blocks plus a sliver: k = 784 with KC = 384 runs as 3 × 262, not 384 + 384 + 16.
inline int64_t balanced_block(int64_t total, int64_t max_block, int64_t unit) {
  if (total <= max_block) return total;
  const int64_t nblocks = (total + max_block - 1) / max_block;
  const int64_t b = (total + nblocks - 1) / nblocks;
  return (b + unit - 1) / unit * unit;
}

// Elements of packed A a thread may hold for the panel-major order below (an L2 share).
template <class T>
constexpr int64_t kWholeABudget = 2 * Cfg<T>::MC * Cfg<T>::KC;
// The panel-major order writes C in column strips, MR rows at a time: with a short k loop
// (~120 cycles at k = 10) the strip's write misses are not hidden (a 2 KB row stride puts
// the whole strip in 4 L1 sets), so such products keep the row-strip order.
constexpr int64_t kPanelMinK = 32;
// Taller column strips span too many pages of C (512 rows of a 784-wide C: 1.6 MB): the
// 512×784·128 weight gradient ran 6% slower in panel-major order than in row strips.
constexpr int64_t kPanelMaxRows = 256;

// Rows of the short-panel tiles: a last row panel of at most MR/3, MR/2 or 2·MR/3 rows runs a
// tile of that height (AVX-512 float32: 8, 12 or 16 of 24; m = 128 = 5·24 + 8, and the 10 rows
// of a 10-class layer's weight gradient), not a full MR one.
template <class T>
constexpr int kShortRows1 = Cfg<T>::MR / 3;
template <class T>
constexpr int kShortRowsHalf = Cfg<T>::MR / 2;
template <class T>
constexpr int kShortRows2 = Cfg<T>::MR - Cfg<T>::MR / 3;

template <class T, int ROWS>
FG_GEMM_INLINE void vec_tiles(int64_t kc, const T* __restrict pa, const T* __restrict pb,
                              int64_t ldb, T* c, int64_t c_rs, int64_t c_cs, int mr, int nr,
                              StoreMode mode, const T* bias_col, const T* bias_row,
                              const T* c_next) {
  using C = Cfg<T>;
  if (C::NV > 1 && nr <= C::W)
    micro_tile<T, ROWS, 1>(kc, pa, pb, ldb, c, c_rs, c_cs, mr, nr, mode, bias_col, bias_row,
                           c_next);
  else
    micro_tile<T, ROWS>(kc, pa, pb, ldb, c, c_rs, c_cs, mr, nr, mode, bias_col, bias_row,
                        c_next);
}

// micro_tile with only the rows and B vectors the tile has: a full MR×NR tile, a short last
// row panel, a one-vector last column panel (n = 784 = 24·32 + 16 with NR = 32), or both.
template <class T>
FG_GEMM_INLINE void short_tiles(int64_t kc, const T* __restrict pa, const T* __restrict pb,
                                int64_t ldb, T* c, int64_t c_rs, int64_t c_cs, int mr, int nr,
                                StoreMode mode, const T* bias_col, const T* bias_row,
                                const T* c_next) {
  constexpr int R1 = kShortRows1<T>, RH = kShortRowsHalf<T>, R2 = kShortRows2<T>;
  if (mr > R2)
    vec_tiles<T, Cfg<T>::MR>(kc, pa, pb, ldb, c, c_rs, c_cs, mr, nr, mode, bias_col, bias_row,
                             c_next);
  else if (RH < 2 || mr > RH)
    vec_tiles<T, R2>(kc, pa, pb, ldb, c, c_rs, c_cs, mr, nr, mode, bias_col, bias_row, c_next);
  else if (R1 < 2 || mr > R1)
    vec_tiles<T, RH>(kc, pa, pb, ldb, c, c_rs, c_cs, mr, nr, mode, bias_col, bias_row, c_next);
  else
    vec_tiles<T, R1>(kc, pa, pb, ldb, c, c_rs, c_cs, mr, nr, mode, bias_col, bias_row, c_next);
}

// Whether rows (of m) × all of k take the panel-major order.
template <class T>
inline bool panel_major(int64_t rows, int64_t k) {
  constexpr int MR = Cfg<T>::MR;
  return k > kPanelMinK && rows <= kPanelMaxRows &&
         (rows + MR - 1) / MR * MR * k <= kWholeABudget<T>;
}

// Panel-major order for a short C (the MLP's batch-128 products, or k = 128 weight gradients),
// part 1: A's rows [m0, m1) packed once, all of k, KC block after KC block (into this
// thread's buffer).
template <class T>
const T* pack_whole_a(const GemmProblem<T>& g, int64_t m0, int64_t m1) {
  constexpr int MR = Cfg<T>::MR;
  const int64_t kc_step = balanced_block(g.k, Cfg<T>::KC, 8);
  const int64_t rows = m1 - m0, rows_pad = (rows + MR - 1) / MR * MR;
  T* pa = tl_pack_a.get<T>(rows_pad * g.k);
  for (int64_t pc = 0; pc < g.k; pc += kc_step)
    pack_a(g.a + m0 * g.a_rs + pc * g.a_cs, g.a_rs, g.a_cs, rows, std::min(kc_step, g.k - pc),
           pa + rows_pad * pc);
  return pa;
}

// Part 2: C[m0:m1, n0:n1] from that packed A. For each NR-wide B panel and KC block: pack the
// panel into an L1-sized buffer and run every MR panel of A over it. B is read once, panel by
// panel, and never written out as a whole packed block (which, at 128×784·784×512, would not
// fit in L2 beside B itself: packing B cost 15-19% of those products).
template <class T>
void panel_range(const GemmProblem<T>& g, const T* pa, int64_t m0, int64_t m1, int64_t n0,
                 int64_t n1) {
  constexpr int MR = Cfg<T>::MR, NR = Cfg<T>::NR;
  const int64_t kc_step = balanced_block(g.k, Cfg<T>::KC, 8);
  const int64_t rows = m1 - m0, rows_pad = (rows + MR - 1) / MR * MR;
  T* pb = tl_pack_b.get<T>(NR * std::min(kc_step, g.k));
  // With a single MR panel of A, each packed B value would be used once: packing B would
  // only copy it. Row-major B is then read in place (rows b_rs apart).
  const bool direct_b = g.b_cs == 1 && rows <= MR;
  for (int64_t jr = n0; jr < n1; jr += NR) {
    const int nr = static_cast<int>(std::min<int64_t>(NR, n1 - jr));
    const T* bias_col = (g.bias && !g.bias_rows) ? g.bias + jr : nullptr;
    T* c_col = g.c + jr * g.c_cs;
    for (int64_t pc = 0; pc < g.k; pc += kc_step) {
      const int64_t kc = std::min(kc_step, g.k - pc);
      const StoreMode mode{pc > 0, pc + kc == g.k, g.relu};
      const T* b_blk = g.b + pc * g.b_rs + jr * g.b_cs;
      const T* b_panel = pb;
      int64_t ldb = NR;
      if (direct_b && nr == NR) b_panel = b_blk, ldb = g.b_rs;
      else pack_b(b_blk, g.b_rs, g.b_cs, kc, nr, pb);
      const T* pa_blk = pa + rows_pad * pc;
      for (int64_t ir = 0; ir < rows; ir += MR) {
        const int mr = static_cast<int>(std::min<int64_t>(MR, rows - ir));
        const T* bias_row = (g.bias && g.bias_rows) ? g.bias + m0 + ir : nullptr;
        T* c_tile = c_col + (m0 + ir) * g.c_rs;
        const T* c_next = ir + MR < rows ? c_tile + MR * g.c_rs : nullptr;
        short_tiles(kc, pa_blk + ir * kc, b_panel, ldb, c_tile, g.c_rs, g.c_cs, mr, nr, mode,
                    bias_col, bias_row, c_next);
      }
    }
  }
}

// Elements of packed B a thread may hold for the row pieces below (an L2 share: the 784-wide
// k = 128 weight gradient's 100K, not a 512² square's 262K, whose split stays static).
template <class T>
constexpr int64_t kWholeBBudget = Cfg<T>::KC * Cfg<T>::NC / 2;

// Row-strip order over rows [m0, m1) and all of n, from a B packed whole beforehand (KC block
// after KC block, NR-wide panels, each block n_pad wide): the threads' row pieces below.
template <class T>
const T* pack_whole_b(const GemmProblem<T>& g) {
  constexpr int NR = Cfg<T>::NR;
  const int64_t kc_step = balanced_block(g.k, Cfg<T>::KC, 8);
  const int64_t n_pad = (g.n + NR - 1) / NR * NR;
  T* pb = tl_pack_b.get<T>(n_pad * g.k);
  for (int64_t pc = 0; pc < g.k; pc += kc_step)
    pack_b(g.b + pc * g.b_rs, g.b_rs, g.b_cs, std::min(kc_step, g.k - pc), g.n, pb + n_pad * pc);
  return pb;
}

template <class T>
void row_range(const GemmProblem<T>& g, const T* pb, int64_t m0, int64_t m1) {
  constexpr int MR = Cfg<T>::MR, NR = Cfg<T>::NR;
  const int64_t kc_step = balanced_block(g.k, Cfg<T>::KC, 8);
  const int64_t n_pad = (g.n + NR - 1) / NR * NR;
  const int64_t rows = m1 - m0, rows_pad = (rows + MR - 1) / MR * MR;
  T* pa = tl_pack_a.get<T>(rows_pad * std::min(kc_step, g.k));
  for (int64_t pc = 0; pc < g.k; pc += kc_step) {
    const int64_t kc = std::min(kc_step, g.k - pc);
    const StoreMode mode{pc > 0, pc + kc == g.k, g.relu};
    pack_a(g.a + m0 * g.a_rs + pc * g.a_cs, g.a_rs, g.a_cs, rows, kc, pa);
    const T* pb_blk = pb + n_pad * pc;
    for (int64_t ir = 0; ir < rows; ir += MR) {
      const int mr = static_cast<int>(std::min<int64_t>(MR, rows - ir));
      const T* bias_row = (g.bias && g.bias_rows) ? g.bias + m0 + ir : nullptr;
      T* c_row = g.c + (m0 + ir) * g.c_rs;
      for (int64_t jr = 0; jr < g.n; jr += NR) {
        const int nr = static_cast<int>(std::min<int64_t>(NR, g.n - jr));
        const T* bias_col = (g.bias && !g.bias_rows) ? g.bias + jr : nullptr;
        T* c_tile = c_row + jr * g.c_cs;
        short_tiles(kc, pa + ir * kc, pb_blk + jr * kc, NR, c_tile, g.c_rs, g.c_cs, mr, nr,
                    mode, bias_col, bias_row, jr + NR < g.n ? c_tile + NR * g.c_cs : nullptr);
      }
    }
  }
}

template <class T>
void gemm_block(const GemmProblem<T>& g, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  using C = Cfg<T>;
  constexpr int MR = C::MR, NR = C::NR;
  if (m1 <= m0 || n1 <= n0) return;
  const int64_t rows = m1 - m0;
  if (panel_major<T>(rows, g.k)) return panel_range(g, pack_whole_a(g, m0, m1), m0, m1, n0, n1);
  const int64_t kc_step = balanced_block(g.k, C::KC, 8);
  const int64_t kc0 = std::min(kc_step, g.k);
  // Row-strip order (Note [GEMM structure]). With a single MR panel of A, row-major B is
  // read in place, as above.
  const bool direct_b = g.b_cs == 1 && rows <= MR;
  const int64_t mc_step = balanced_block(rows, C::MC, MR);
  const int64_t nc_step = balanced_block(n1 - n0, C::NC, NR);
  const int64_t mc_pad = (std::min(mc_step, rows) + MR - 1) / MR * MR;
  const int64_t nc_pad = (std::min(nc_step, n1 - n0) + NR - 1) / NR * NR;
  T* pa = tl_pack_a.get<T>(mc_pad * kc0);
  T* pb = tl_pack_b.get<T>(nc_pad * kc0);
  for (int64_t jc = n0; jc < n1; jc += nc_step) {
    const int64_t nc = std::min(nc_step, n1 - jc);
    for (int64_t pc = 0; pc < g.k; pc += kc_step) {
      const int64_t kc = std::min(kc_step, g.k - pc);
      const StoreMode mode{pc > 0, pc + kc == g.k, g.relu};
      const T* b_blk = g.b + pc * g.b_rs + jc * g.b_cs;
      if (!direct_b) pack_b(b_blk, g.b_rs, g.b_cs, kc, nc, pb);
      for (int64_t ic = m0; ic < m1; ic += mc_step) {
        const int64_t mc = std::min(mc_step, m1 - ic);
        pack_a(g.a + ic * g.a_rs + pc * g.a_cs, g.a_rs, g.a_cs, mc, kc, pa);
        for (int64_t ir = 0; ir < mc; ir += MR) {
          const int mr = static_cast<int>(std::min<int64_t>(MR, mc - ir));
          const T* bias_row = (g.bias && g.bias_rows) ? g.bias + ic + ir : nullptr;
          T* c_row = g.c + (ic + ir) * g.c_rs;
          for (int64_t jr = 0; jr < nc; jr += NR) {
            const int nr = static_cast<int>(std::min<int64_t>(NR, nc - jr));
            const T* bias_col = (g.bias && !g.bias_rows) ? g.bias + jc + jr : nullptr;
            T* c_tile = c_row + (jc + jr) * g.c_cs;
            const T* b_panel = pb + jr * kc;
            int64_t ldb = NR;
            if (direct_b && nr == NR) {
              b_panel = b_blk + jr, ldb = g.b_rs;
            } else if (direct_b) {  // the ragged last panel: pack it (zero-filled columns)
              pack_b(b_blk + jr, g.b_rs, g.b_cs, kc, nr, pb);
              b_panel = pb;
            }
            short_tiles(kc, pa + ir * kc, b_panel, ldb, c_tile, g.c_rs, g.c_cs, mr, nr, mode,
                        bias_col, bias_row, jr + NR < nc ? c_tile + NR * g.c_cs : nullptr);
          }
        }
      }
    }
  }
}

// Horizontal sum of an N-lane vector by halving (log2 N vector adds, not a serial chain).
template <int N, class VV, size_t... L>
FG_GEMM_INLINE auto low_half(VV v, std::index_sequence<L...>) {
  return __builtin_shufflevector(v, v, L...);
}
template <int N, class VV, size_t... L>
FG_GEMM_INLINE auto high_half(VV v, std::index_sequence<L...>) {
  return __builtin_shufflevector(v, v, (N / 2 + L)...);
}
template <int N, class VV>
FG_GEMM_INLINE auto hsum(VV v) {
  if constexpr (N == 1) {
    return v[0];
  } else {
    return hsum<N / 2>(low_half<N>(v, std::make_index_sequence<N / 2>{}) +
                       high_half<N>(v, std::make_index_sequence<N / 2>{}));
  }
}

// ---- dot-product path for a narrow C with both operands contiguous along k ---------------
// C = X·Wᵀ with few rows or columns (the 10-class layer): the outer-product tile would be
// mostly padding, and packing would transpose an operand that is used once. Here each C
// element is a dot product of two k-contiguous rows, vectorised along k, DR×DC of them at a
// time; no packing. Requires a_cs == 1 and b_rs == 1.
template <class T, int DC>
void dot_block(const GemmProblem<T>& g, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  using V = typename Vec<T>::v;
  using U = typename Vec<T>::u;
  constexpr int W = Cfg<T>::W, DR = 4;
  const int64_t kv = g.k / W * W;
  for (int64_t i0 = m0; i0 < m1; i0 += DR) {
    const int dr = static_cast<int>(std::min<int64_t>(DR, m1 - i0));
    const T* ar[DR];
    for (int i = 0; i < DR; ++i) ar[i] = g.a + std::min<int64_t>(i0 + i, m1 - 1) * g.a_rs;
    for (int64_t j0 = n0; j0 < n1; j0 += DC) {
      const int dc = static_cast<int>(std::min<int64_t>(DC, n1 - j0));
      const T* bc[DC];
      for (int j = 0; j < DC; ++j) bc[j] = g.b + std::min<int64_t>(j0 + j, n1 - 1) * g.b_cs;
      V acc[DR][DC];
#pragma GCC unroll 4
      for (int i = 0; i < DR; ++i)
#pragma GCC unroll 4
        for (int j = 0; j < DC; ++j) acc[i][j] = V{};
      for (int64_t p = 0; p < kv; p += W) {
        V av[DR], bv[DC];
#pragma GCC unroll 4
        for (int i = 0; i < DR; ++i) av[i] = *reinterpret_cast<const U*>(ar[i] + p);
#pragma GCC unroll 4
        for (int j = 0; j < DC; ++j) bv[j] = *reinterpret_cast<const U*>(bc[j] + p);
#pragma GCC unroll 4
        for (int i = 0; i < DR; ++i)
#pragma GCC unroll 4
          for (int j = 0; j < DC; ++j) acc[i][j] += av[i] * bv[j];
      }
      for (int i = 0; i < dr; ++i) {
        for (int j = 0; j < dc; ++j) {
          T r = hsum<W>(acc[i][j]);
          for (int64_t p = kv; p < g.k; ++p) r += ar[i][p] * bc[j][p];
          if (g.bias) r = r + g.bias[g.bias_rows ? i0 + i : j0 + j];
          if (g.relu) r = r < T(0) ? T(0) : r;
          g.c[(i0 + i) * g.c_rs + (j0 + j) * g.c_cs] = r;
        }
      }
    }
  }
}

// ---- direct path for a short k with row-major B and C ----------------------------------
// C = A·B with k <= kDirectMaxK (the input gradient dY·W of a 10-class layer, k = 10): a
// product this thin is bound by writing C, not by FMAs, and packing only adds passes. Each
// DR×DV-vector tile of C is computed straight from A (scalar broadcasts, any strides) and B
// rows (vector loads), over a k fixed at compile time (fully unrolled: a runtime-k loop ran
// 12% slower), and stored along C's rows, DV vectors (a few whole lines) per row. The sums run
// in the micro-kernel's order (0 + a0·b0 + a1·b1 + ..., contracted the same way), so results
// equal the packed path's bit for bit. Requires b_cs == 1, c_cs == 1, n >= W.
constexpr int64_t kDirectMaxK = 16;
constexpr int kDirectRows = 4;
constexpr int kDirectVecs = FG_GEMM_VBYTES == 64 ? 4 : 2;  // 16 (or 8) accumulators

template <class T, int R, int DV, int K>
FG_GEMM_INLINE void direct_tile(const GemmProblem<T>& g, int64_t i0, int64_t j0) {
  using V = typename Vec<T>::v;
  using U = typename Vec<T>::u;
  constexpr int W = Cfg<T>::W;
  V acc[R][DV];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < DV; ++v) acc[r][v] = V{};
#pragma GCC unroll 16
  for (int p = 0; p < K; ++p) {
    V bv[DV];
#pragma GCC unroll 8
    for (int v = 0; v < DV; ++v) bv[v] = *reinterpret_cast<const U*>(g.b + p * g.b_rs + j0 + v * W);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const T ai = g.a[(i0 + r) * g.a_rs + p * g.a_cs];
#pragma GCC unroll 8
      for (int v = 0; v < DV; ++v) acc[r][v] += ai * bv[v];
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 8
    for (int v = 0; v < DV; ++v) {
      V x = acc[r][v];
      if (g.bias && !g.bias_rows) x = x + *reinterpret_cast<const U*>(g.bias + j0 + v * W);
      if (g.bias && g.bias_rows) x = x + g.bias[i0 + r];
      if (g.relu) x = x < T(0) ? V{} : x;
      *reinterpret_cast<U*>(g.c + (i0 + r) * g.c_rs + j0 + v * W) = x;
    }
  }
}

// The last n % W columns, one element at a time, in the same order of operations.
template <class T, int K>
FG_GEMM_INLINE void direct_scalar(const GemmProblem<T>& g, int64_t i, int64_t j) {
  T x = T(0);
#pragma GCC unroll 16
  for (int p = 0; p < K; ++p) x += g.a[i * g.a_rs + p * g.a_cs] * g.b[p * g.b_rs + j];
  if (g.bias) x = x + g.bias[g.bias_rows ? i : j];
  if (g.relu) x = x < T(0) ? T(0) : x;
  g.c[i * g.c_rs + j] = x;
}

template <class T, int R, int K>
FG_GEMM_INLINE void direct_row_block(const GemmProblem<T>& g, int64_t i0) {
  constexpr int W = Cfg<T>::W, DV = kDirectVecs;
  int64_t j0 = 0;
  for (; j0 + DV * W <= g.n; j0 += DV * W) direct_tile<T, R, DV, K>(g, i0, j0);
  for (; j0 + W <= g.n; j0 += W) direct_tile<T, R, 1, K>(g, i0, j0);
  for (; j0 < g.n; ++j0)
    for (int r = 0; r < R; ++r) direct_scalar<T, K>(g, i0 + r, j0);
}

template <class T, int K>
void direct_rows(const GemmProblem<T>& problem, int64_t m0, int64_t m1) {
  constexpr int R = kDirectRows;
  // A local copy: C's stores (through may_alias vectors) could otherwise modify the problem's
  // fields, as far as the compiler knows, which then get reloaded after every store.
  const GemmProblem<T> g = problem;
  int64_t i0 = m0;
  for (; i0 + R <= m1; i0 += R) direct_row_block<T, R, K>(g, i0);
  for (; i0 < m1; ++i0) direct_row_block<T, 1, K>(g, i0);
}

template <class T, size_t... K>
void direct_rows_k(const GemmProblem<T>& g, int64_t m0, int64_t m1, std::index_sequence<K...>) {
  using F = void (*)(const GemmProblem<T>&, int64_t, int64_t);
  static constexpr F kTable[] = {&direct_rows<T, int(K) + 1>...};
  kTable[g.k - 1](g, m0, m1);
}

// k == 0: C = act(bias), or zeros.
template <class T>
void fill_bias(const GemmProblem<T>& g) {
  for (int64_t i = 0; i < g.m; ++i)
    for (int64_t j = 0; j < g.n; ++j) {
      T r = T(0);
      if (g.bias) r = r + g.bias[g.bias_rows ? i : j];
      if (g.relu) r = r < T(0) ? T(0) : r;
      g.c[i * g.c_rs + j * g.c_cs] = r;
    }
}

// Threads take a tm×tn grid of C blocks. Each thread packs the A rows and B columns of its
// block itself, so a split along n repeats A's packing and a split along m repeats B's: pick
// the grid with the least (compute per thread + packing per thread), in FMA-vector units.
// C narrower than this (rows or columns) with k-contiguous operands takes the dot path.
constexpr int64_t kDotMaxDim = 16;

template <class T>
void run(const GemmProblem<T>& g) {
  using C = Cfg<T>;
  if (g.m <= 0 || g.n <= 0) return;
  if (g.k <= 0) return fill_bias(g);
  // n a multiple of W, or wide: the last n % W columns take a scalar loop.
  if (g.k <= kDirectMaxK && g.b_cs == 1 && g.c_cs == 1 &&
      (g.n % C::W == 0 || g.n >= 16 * C::W)) {
    // Threads take equal row ranges (multiples of the tile's rows); nothing is packed.
    const int64_t blocks = (g.m + kDirectRows - 1) / kDirectRows;
    const int parts = static_cast<int>(std::min<int64_t>(g.threads, (blocks + 7) / 8));
    auto part = [&](int t) {
      const int64_t i0 = std::min(g.m, blocks * t / parts * kDirectRows);
      const int64_t i1 = std::min(g.m, blocks * (t + 1) / parts * kDirectRows);
      direct_rows_k(g, i0, i1, std::make_index_sequence<kDirectMaxK>{});
    };
    if (parts <= 1) return part(0);
#if defined(FG_OPENMP)
#pragma omp parallel num_threads(parts)
    for (int t = omp_get_thread_num(); t < parts; t += omp_get_num_threads()) part(t);
#else
    for (int t = 0; t < parts; ++t) part(t);
#endif
    return;
  }
  if (g.a_cs == 1 && g.b_rs == 1 && std::min(g.m, g.n) <= kDotMaxDim && g.k >= 4 * C::W) {
    // Threads split the long side; nothing is packed, so nothing is duplicated.
    const bool split_m = g.m >= g.n;
    const int64_t len = split_m ? g.m : g.n;
    const int parts = static_cast<int>(std::min<int64_t>(g.threads, (len + 15) / 16));
    // Five columns per block when that tiles n exactly and four do not (n = 10).
    const bool five = g.n % 5 == 0 && g.n % 4 != 0;
    auto part = [&](int t) {
      const int64_t lo = len * t / parts, hi = len * (t + 1) / parts;
      const int64_t i0 = split_m ? lo : 0, i1 = split_m ? hi : g.m;
      const int64_t j0 = split_m ? 0 : lo, j1 = split_m ? g.n : hi;
      if (five) dot_block<T, 5>(g, i0, i1, j0, j1);
      else dot_block<T, 4>(g, i0, i1, j0, j1);
    };
    if (parts <= 1) return part(0);
#if defined(FG_OPENMP)
#pragma omp parallel num_threads(parts)
    for (int t = omp_get_thread_num(); t < parts; t += omp_get_num_threads()) part(t);
#else
    for (int t = 0; t < parts; ++t) part(t);
#endif
    return;
  }
  const int64_t mp = (g.m + C::MR - 1) / C::MR, np = (g.n + C::NR - 1) / C::NR;
  if (g.threads > 1 && np >= 2 && g.m <= g.n && panel_major<T>(g.m, g.k)) {
    // A short, wide C: threads take pieces of a few B panels from a shared counter, each
    // packing all of A (the smaller operand) once, on its first piece. Taking pieces
    // dynamically instead of a fixed half lets the calling thread start while a sleeping
    // worker wakes (~20 us, OMP_WAIT_POLICY=PASSIVE) and keeps both busy when one shares
    // its core with another process. (Splitting m instead would pack all of B per thread
    // and leave 6 vs 5 MR panels at m = 128.)
    const int64_t per = std::max<int64_t>(1, np / (4 * int64_t(g.threads)));
    const int64_t pieces = (np + per - 1) / per;
    std::atomic<int64_t> next{0};
    auto work = [&] {
      const T* pa = nullptr;
      for (int64_t c; (c = next.fetch_add(1, std::memory_order_relaxed)) < pieces;) {
        if (!pa) pa = pack_whole_a(g, 0, g.m);
        panel_range(g, pa, 0, g.m, c * per * C::NR, std::min(g.n, (c + 1) * per * C::NR));
      }
    };
#if defined(FG_OPENMP)
#pragma omp parallel num_threads(static_cast<int>(std::min<int64_t>(g.threads, pieces)))
#endif
    work();
    return;
  }
  if (g.threads > 1 && mp >= 2 && np * C::NR * g.k <= kWholeBBudget<T>) {
    // A tall C with a small B (the 512×784·128 weight gradient): the same dynamic pieces,
    // of MR panels of rows, each thread packing all of B once, on its first piece.
    const int64_t per = std::clamp<int64_t>(mp / (4 * int64_t(g.threads)), 1, C::MC / C::MR);
    const int64_t pieces = (mp + per - 1) / per;
    std::atomic<int64_t> next{0};
    auto work = [&] {
      const T* pb = nullptr;
      for (int64_t c; (c = next.fetch_add(1, std::memory_order_relaxed)) < pieces;) {
        if (!pb) pb = pack_whole_b(g);
        row_range(g, pb, c * per * C::MR, std::min(g.m, (c + 1) * per * C::MR));
      }
    };
#if defined(FG_OPENMP)
#pragma omp parallel num_threads(static_cast<int>(std::min<int64_t>(g.threads, pieces)))
#endif
    work();
    return;
  }
  int best_tm = 1, best_tn = 1;
  if (g.threads > 1) {
    double best = 1e300;
    for (int tm = 1; tm <= g.threads; ++tm)
      for (int tn = 1; tm * tn <= g.threads; ++tn) {
        if (tm > mp || tn > np) continue;
        const double rows = double((mp + tm - 1) / tm) * C::MR;
        const double cols = double((np + tn - 1) / tn) * C::NR;
        const double compute = rows * cols * double(g.k) / C::W;
        // Each packed element costs about one vector FMA slot (a scalar load + store).
        const double n_blocks = std::ceil(cols / double(C::NC));
        const double packing = (rows * n_blocks + cols) * double(g.k);
        const double cost = compute + packing;
        if (cost < best * 0.999) best = cost, best_tm = tm, best_tn = tn;
      }
  }
  const int parts = best_tm * best_tn;
  auto part = [&](int t) {
    const int it = t / best_tn, jt = t % best_tn;
    const int64_t m0 = std::min(g.m, (mp * it / best_tm) * C::MR);
    const int64_t m1 = std::min(g.m, (mp * (it + 1) / best_tm) * C::MR);
    const int64_t n0 = std::min(g.n, (np * jt / best_tn) * C::NR);
    const int64_t n1 = std::min(g.n, (np * (jt + 1) / best_tn) * C::NR);
    gemm_block(g, m0, m1, n0, n1);
  };
  if (parts == 1) return part(0);
#if defined(FG_OPENMP)
#pragma omp parallel num_threads(parts)
  {
    // The team may be smaller than asked (nested regions, thread limits): stride over parts.
    for (int t = omp_get_thread_num(); t < parts; t += omp_get_num_threads()) part(t);
  }
#else
  for (int t = 0; t < parts; ++t) part(t);
#endif
}

// Seconds of CPU time used by this thread (wall time where that is unavailable): on a
// shared machine, time spent descheduled must not count as slow cycles.
inline double thread_seconds() {
#if defined(CLOCK_THREAD_CPUTIME_ID)
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
#else
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
#endif
}

// float32 FMA throughput of this path on one core (GFLOP/s): as many independent vector
// chains as the micro-tile has accumulators, so the clock is the one the GEMM itself gets.
// Wide-vector FMA load settles below the short-burst turbo clock (here about 2.2 vs 2.5 GHz),
// so the figure is the median of 9 runs of ~10 ms after ~0.1 s of warm-up, timed in thread
// CPU time.
inline double fma_peak_gflops() {
  using V = Vec<float>::v;
  constexpr int W = Cfg<float>::W, kChains = Cfg<float>::MR * Cfg<float>::NV;
  constexpr int64_t kIters = int64_t(1) << 17;
  volatile float seed_y = 0.999999f, seed_z = 1e-9f, sink = 0.0f;
  const V y = V{} + seed_y, z = V{} + seed_z;
  double secs[19];
  for (int rep = 0; rep < 19; ++rep) {
    V acc[kChains];
#pragma GCC unroll 32
    for (int i = 0; i < kChains; ++i) acc[i] = V{} + float(i);
    const double t0 = thread_seconds();
    for (int64_t it = 0; it < kIters; ++it) {
#pragma GCC unroll 32
      for (int i = 0; i < kChains; ++i) acc[i] = acc[i] * y + z;
    }
    const double t1 = thread_seconds();
    float s = 0.0f;
    for (int i = 0; i < kChains; ++i) s += acc[i][0];
    sink = s;  // keep the chains alive
    secs[rep] = t1 - t0;
  }
  (void)sink;
  std::sort(secs + 10, secs + 19);  // the first 10 runs are the warm-up
  return 2.0 * W * kChains * double(kIters) / secs[14] * 1e-9;
}

inline GemmTable make_table(const char* name) {
  return GemmTable{name, &run<float>, &run<double>, Cfg<float>::W, &fma_peak_gflops};
}

}  // namespace fg::cpu::FG_GEMM_NS
