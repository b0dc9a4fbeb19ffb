// Fused batch-norm kernels (CPU): one forward call (statistics, normalise, affine, running
// stats) and one backward call (Σdy, Σdy·x̂, dx, dγ, dβ). Per-element math: csrc/math/norm.h.
// The loops live in cpu/norm_impl.h, compiled per instruction set (norm.cpp baseline,
// norm_v3.cpp, norm_v4.cpp) and picked once at run time, as in cpu/optim.h.
#pragma once

#include <stdint.h>

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
// for AVX-512 could otherwise be the one the linker keeps for the baseline build).
// Scratch: bn_scratch_doubles(n, c, l) doubles and bn_scratch_elems(n, c, l) elements of T.

// Rows (l == 1) summed per chunk: about 32K elements, at least 16 rows. Depends on sizes only,
// never on the thread count, so the merged sums are the same for any thread count.
inline int64_t bn_chunk_rows(int64_t c) {
  const int64_t r = c > 0 ? (int64_t(1) << 15) / c : 1;
  return r < 16 ? 16 : r;
}
inline int64_t bn_chunks(int64_t n, int64_t c) {
  const int64_t r = bn_chunk_rows(c);
  return (n + r - 1) / r;
}

// Note [batch-norm channel blocks]
// For 2-D input the kernels prefer to work on blocks of w channels over all n rows: the
// statistics pass and the output pass of one block then touch the same n·w elements, which
// stay in L2 between the two passes (two arrays of the block, x and gy in the backward, fit
// in kBnBlockBytes). Memory traffic drops from 3 to 2 array passes in the forward and from 5
// to 3 in the backward; each channel is summed by one task, in row order. A block's row
// segments must be at least kBnMinSegmentBytes long: with 64-byte segments (w = 16 floats)
// every row is a separate, unprefetched cache-line miss and 8192x256 ran 4x slower than the
// row-chunked path (measured). Returns w (a multiple of the minimum, or c), or 0 when even
// the minimum width over all rows does not fit (tall input): then the row-chunked path
// (bn_chunk_rows) runs instead. Measured on 1024x512 float32, one thread: forward 884 ->
// 524 us, backward 1281 -> 793 us.
constexpr int64_t kBnBlockBytes = int64_t(1) << 20;
constexpr int64_t kBnMinSegmentBytes = 512;
inline int64_t bn_block_channels(int64_t n, int64_t c, int64_t elem_bytes) {
  if (n <= 0 || c <= 0) return c > 0 ? c : 1;
  int64_t w = kBnBlockBytes / (2 * n * elem_bytes);
  if (w >= c) return c;
  const int64_t wmin = kBnMinSegmentBytes / elem_bytes;
  w -= w % wmin;
  return w >= wmin ? w : 0;
}

inline int64_t bn_scratch_doubles(int64_t n, int64_t c, int64_t l) {
  return 2 * c + (l == 1 ? 2 * c * bn_chunks(n, c) : 0);
}
inline int64_t bn_scratch_elems(int64_t n, int64_t c, int64_t l) {
  return 6 * c + (l == 1 ? 2 * c * bn_chunks(n, c) : 0);
}

template <class T>
struct NormKernels {
  void (*forward)(const T* x, const T* weight, const T* bias, T* y, T* save_mean,
                  T* save_invstd, T* running_mean, T* running_var, int64_t n, int64_t c,
                  int64_t l, bool batch_stats, double momentum_factor, double eps, double* dscr,
                  T* tscr);
  void (*backward)(const T* x, const T* gy, const T* weight, const T* save_mean,
                   const T* save_invstd, T* gx, T* gweight, T* gbias, int64_t n, int64_t c,
                   int64_t l, bool batch_stats, double* dscr, T* tscr);
};

NormKernels<float> norm_kernels_baseline_f32();
NormKernels<double> norm_kernels_baseline_f64();
NormKernels<float> norm_kernels_v3_f32();
NormKernels<double> norm_kernels_v3_f64();
NormKernels<float> norm_kernels_v4_f32();
NormKernels<double> norm_kernels_v4_f64();
const char* norm_isa();

}  // namespace fg::cpu
