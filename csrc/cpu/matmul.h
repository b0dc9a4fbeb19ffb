// GEMM for the CPU backend: C = act(A·B + bias), packed and cache-blocked, with runtime ISA
// dispatch (AVX-512 / AVX2+FMA / portable vector code). See Note [GEMM structure] below.
//
// Note [GEMM structure]
// The Goto/BLIS loop nest, with the operands' roles chosen for row-major C:
//   jc over NC columns of B -> pc over KC of k: pack B's KC×NC block (NR-wide panels, L2)
//     -> ic over MC rows of A: pack A's MC×KC block (MR-tall panels)
//       -> ir over MR-panels of A (this panel stays in L1) -> jr over NR-panels of B
//         -> micro-kernel: an MR×NR tile of C held in vector registers, rank-1 updates
//            (broadcast one A value, FMA with NR/W vectors of B) for each p of the KC block.
// That row-strip order serves large products. A short C (at most 256 rows, k > 32, all of
// A's rows packed within an L2 share: the batch-128 products of an MLP) runs panel-major
// instead: A packed once for all of k, then each NR-wide panel of B packed into an L1 buffer
// just before every MR panel of A runs over it, so B is read once and no packed copy of it
// is written out whole (cpu/matmul_kernel.h, panel_range).
// Products with k <= 16 and row-major B and C (dY·W of a 10-class layer) skip packing: each
// small tile of C is computed straight from A and B over a compile-time k and stored along
// C's rows (such products are bound by writing C; cpu/matmul_kernel.h, direct_rows).
// The store step of the last KC block applies the epilogue (bias, ReLU), so a Linear layer
// costs no extra pass over its output. Packing reads A and B through (row, col) strides, so
// every transpose/slice view is consumed without a copy (fast paths when a stride is 1).
// Threads: a short wide C is cut into pieces of a few B panels, a tall C with a small B into
// pieces of rows; threads take pieces from a shared counter (so the caller starts while a
// sleeping worker wakes, and a thread sharing its core with another process takes fewer),
// each packing the small operand whole, once. Other products split C into a fixed grid of
// independent blocks (no barriers; each thread packs its own panels into thread-local
// buffers), along the dimension whose split duplicates less packing.
// One shared header (cpu/matmul_kernel.h) is compiled three times: baseline (portable GCC
// vector code, 16-byte vectors), x86-64-v3 (AVX2+FMA) and x86-64-v4 (AVX-512); a table picked
// once with __builtin_cpu_supports chooses among them (TOOLCHAIN.md §3).
#pragma once

#include <cstdint>

namespace fg::cpu {

enum class Activation : int { kNone = 0, kRelu = 1 };

// C (m×n) = act(A (m×k) · B (k×n) + bias).
//   A(i, p) = a[i * a_rs + p * a_cs], B(p, j) = b[p * b_rs + j * b_cs]: strides in elements,
//   any sign, 0 allowed (broadcast views); no layout is assumed. C(i, j) = c[i * c_rs + j],
//   written, never read (C may not alias A, B or bias).
//   bias: length n (added to every row) or nullptr. act: applied after the bias.
//   k == 0 gives C = act(bias) (zeros without bias); m == 0 or n == 0 does nothing.
//   Uses up to num_threads() threads (cpu/parallel.h); small products run on the calling thread.
//   float32 accumulates in float (FMA where the ISA has it): results differ from a naive
//   loop by rounding only, growing with k.
template <class T>
void gemm(const T* a, int64_t a_rs, int64_t a_cs, const T* b, int64_t b_rs, int64_t b_cs, T* c,
          int64_t c_rs, int64_t m, int64_t n, int64_t k, const T* bias, Activation act);

// Batched C[t] = A[t]·B[t] for t < batch, no epilogue. A[t] starts at a + a_off[t], B[t] at
// b + b_off[t] (offsets in elements, so broadcast batch dims are offsets repeated), with the
// 2-D strides as in gemm; C[t] is the C-contiguous m×n matrix at c + t * m * n.
// Large items run one after another with threads inside each; small ones in parallel.
template <class T>
void gemm_batched(const T* a, const int64_t* a_off, int64_t a_rs, int64_t a_cs, const T* b,
                  const int64_t* b_off, int64_t b_rs, int64_t b_cs, T* c, int64_t batch,
                  int64_t m, int64_t n, int64_t k);

// gb (n) = column sums of gy (m×n, element (i, j) at gy[i * rs + j * cs]), one pass over gy.
// float32 sums accumulate in double (a batch of 1e5 rows keeps float32 accuracy).
// m == 0 gives zeros. gb may not alias gy.
template <class T>
void bias_grad(const T* gy, T* gb, int64_t m, int64_t n, int64_t rs, int64_t cs);

// The GEMM path chosen at first use: "avx512", "avx2" or "base". FUSEGRAD_GEMM_ISA=base|avx2|
// avx512 (read once) forces a path; a path the CPU lacks falls back to the best it has.
const char* gemm_isa();

// Lanes of one float32 FMA vector on the chosen path, and the float32 FMA throughput of one
// core on it (GFLOP/s, from independent FMA chains): the benchmark's peak and clock figures.
int gemm_f32_lanes();
double gemm_fma_peak_gflops();

namespace detail {

// One GEMM problem as the per-ISA code sees it (C strides general so that C = A·B can be
// computed as Cᵀ = Bᵀ·Aᵀ when n is small; bias then runs along rows).
template <class T>
struct GemmProblem {
  const T* a;
  int64_t a_rs, a_cs;
  const T* b;
  int64_t b_rs, b_cs;
  T* c;
  int64_t c_rs, c_cs;
  int64_t m, n, k;
  const T* bias;      // nullptr or one value per column (bias_rows: per row) of C
  bool bias_rows;
  bool relu;
  int threads;        // 1: run on the calling thread
};

struct GemmTable {
  const char* name;
  void (*f32)(const GemmProblem<float>&);
  void (*f64)(const GemmProblem<double>&);
  int f32_lanes;
  double (*fma_peak_gflops)();
};

GemmTable gemm_table_base();
#if defined(FG_X86_DISPATCH)
GemmTable gemm_table_v3();
GemmTable gemm_table_v4();
#endif

}  // namespace detail
}  // namespace fg::cpu
