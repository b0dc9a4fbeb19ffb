// Fused batch-norm kernels (CPU): one forward call (statistics, normalise, affine, running
// stats) and one backward call (Σdy, Σdy·x̂, dx, dγ, dβ). Per-element math: csrc/math/norm.h.
// The loops live in cpu/norm_impl.h, compiled per instruction set (norm.cpp baseline,
// norm_v3.cpp, norm_v4.cpp) and picked once at run time, as in cpu/optim.h.
#pragma once

#include <stdint.h>

#include "cpu/parallel.h"

namespace fg::cpu {

// Batch-norm forward over x of shape (n, c, l), C-contiguous (l = 1 for 2-D (N, C) input);
// channel k's values are x[i, k, j] for all i, j (m = n·l of them).
//   batch_stats: normalise with the batch mean / biased variance, write them to save_mean /
//     save_invstd (1/sqrt(var + eps)), and, when running_mean/running_var are non-null, update
//     them in place: r = (1 - factor)·r + factor·stat with the unbiased variance (the caller
//     checks m >= 2). Requires m >= 1.
//   !batch_stats: normalise with running_mean / running_var (both required); save_mean and
//     save_invstd receive them as mean and 1/sqrt(running_var + eps) for the backward.
// weight / bias (size c) may be null (γ = 1, β = 0). y must not alias x. save_* have size c.
// Results are bit-identical for any thread count (fixed chunking, fixed merge order).
template <class T>
void batch_norm_forward(const T* x, const T* weight, const T* bias, T* y, T* save_mean,
                        T* save_invstd, T* running_mean, T* running_var, int64_t n, int64_t c,
                        int64_t l, bool batch_stats, double momentum_factor, double eps);

// Batch-norm backward, same layout. Reads x, gy and the saved mean / invstd of the forward.
// Writes gbias[k] = Σdy, gweight[k] = Σdy·x̂ (each may be null) and, when gx is non-null,
//   batch_stats:  gx = γ·invstd·(dy - Σdy/m - x̂·Σdy·x̂/m)
//   !batch_stats: gx = γ·invstd·dy   (statistics were constants).
// weight may be null (γ = 1). gx may alias gy (each element is read before it is written).
template <class T>
void batch_norm_backward(const T* x, const T* gy, const T* weight, const T* save_mean,
                         const T* save_invstd, T* gx, T* gweight, T* gbias, int64_t n, int64_t c,
                         int64_t l, bool batch_stats);

// ---- per-ISA tables (internal) -------------------------------------------------------------
// The kernels below take their scratch memory from the caller, so that the per-ISA
// translation units instantiate no library templates (an out-of-line std:: instance compiled
// for AVX-512 could otherwise be the one the linker keeps for the baseline build). For a team
// of `threads` threads (bn_threads) they need bn_scratch_doubles doubles and bn_scratch_elems
// elements of T (neither initialised) and bn_scratch_flags zeroed uint32_t.

// Note [batch-norm row chunks]
// 2-D (N, C) input (l == 1) is split into fixed chunks of rows (bn_chunk_rows: about 32K
// elements, at least 16 rows); every chunk gives per-channel partial sums (double), merged in
// chunk order, so the statistics are the same bits for any thread count. One parallel region
// runs both passes: (1) chunk sums, barrier, (2) every thread merges the partials itself (no
// second barrier) and (3) runs the element pass over the same chunks it summed, which its own
// L2 still holds (a 1024 x 512 float32 input is 2 MB: half of it per core fits in each
// core's 2 MB L2 at two threads). A thread takes its own contiguous share of chunks first,
// then steals chunks nobody has claimed (from the far end of another share), so a thread
// whose core is busy with another process simply does less. All loops run along rows, over
// the contiguous channels: full cache lines, hardware prefetch, no cross-lane reductions.
// (Blocks of channels over all rows, the previous layout, read 512-byte row segments 2 KB
// apart: measured 1.5x slower than row chunks at 1024 x 512 on one thread.)
inline int64_t bn_chunk_rows(int64_t c) {
  const int64_t r = c > 0 ? (int64_t(1) << 15) / c : 1;
  return r < 16 ? 16 : r;
}
inline int64_t bn_chunks(int64_t n, int64_t c) {
  const int64_t r = bn_chunk_rows(c);
  return (n + r - 1) / r;
}

// Threads for one call: elements touched (forward: x twice and y; backward: x and gy twice
// and gx) over the common grain (cpu/parallel.h), never more than the row chunks.
inline int bn_threads(int64_t n, int64_t c, int64_t l, bool backward) {
  const int64_t units = l == 1 ? bn_chunks(n, c) : c;
  const int nt = threads_for((backward ? 5 : 3) * n * c * l);
  return units < nt ? static_cast<int>(units < 1 ? 1 : units) : nt;
}

inline int64_t bn_scratch_doubles(int64_t n, int64_t c, int64_t l, int threads) {
  return l == 1 ? 2 * c * bn_chunks(n, c) + c + 2 * c * threads : 0;
}
inline int64_t bn_scratch_elems(int64_t n, int64_t c, int64_t l, int threads) {
  (void)n;
  return l == 1 ? 2 * c + 5 * c * threads : 0;
}
inline int64_t bn_scratch_flags(int64_t n, int64_t c, int64_t l) {
  return l == 1 ? 2 * bn_chunks(n, c) : 0;
}

template <class T>
struct NormKernels {
  void (*forward)(const T* x, const T* weight, const T* bias, T* y, T* save_mean,
                  T* save_invstd, T* running_mean, T* running_var, int64_t n, int64_t c,
                  int64_t l, bool batch_stats, double momentum_factor, double eps, int threads,
                  double* dscr, T* tscr, uint32_t* flags);
  void (*backward)(const T* x, const T* gy, const T* weight, const T* save_mean,
                   const T* save_invstd, T* gx, T* gweight, T* gbias, int64_t n, int64_t c,
                   int64_t l, bool batch_stats, int threads, double* dscr, T* tscr,
                   uint32_t* flags);
};

NormKernels<float> norm_kernels_baseline_f32();
NormKernels<double> norm_kernels_baseline_f64();
NormKernels<float> norm_kernels_v3_f32();
NormKernels<double> norm_kernels_v3_f64();
NormKernels<float> norm_kernels_v4_f32();
NormKernels<double> norm_kernels_v4_f64();
const char* norm_isa();

}  // namespace fg::cpu
