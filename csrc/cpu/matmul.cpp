// GEMM entry points (cpu/matmul.h): ISA dispatch, problem set-up, batching, bias gradient.
#include "cpu/matmul.h"

#include "cpu/parallel.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#if defined(FG_OPENMP)
#include <omp.h>
#endif

namespace fg::cpu {
namespace {

// Products smaller than this many multiply-adds stay on the calling thread: waking a
// sleeping OpenMP team (OMP_WAIT_POLICY=PASSIVE) costs some 5-30 microseconds, and 2^21
// multiply-adds take about 20 on one AVX-512 core. (At 2^19 the 128×512×10 products of an
// MLP's last layer ran 1.5-2× slower on two threads than on one.)
constexpr int64_t kParallelMinMacs = int64_t(1) << 21;

// Columns at or below this count with m at least twice n run as Cᵀ = Bᵀ·Aᵀ, so the narrow
// dimension meets the micro-tile's MR rows instead of padding most of an NR-wide panel
// (dY·W and dYᵀ·X of the 512×10 classifier layer of an MLP; its X·Wᵀ, with both operands
// contiguous along k, takes the kernel's dot-product path instead).
constexpr int64_t kSwapMaxCols = 16;

detail::GemmTable choose_table() {
  const char* env = std::getenv("FUSEGRAD_GEMM_ISA");
  const std::string want = env ? env : "";
#if defined(FG_X86_DISPATCH)
  __builtin_cpu_init();
  const bool v3 = __builtin_cpu_supports("x86-64-v3");
  const bool v4 = __builtin_cpu_supports("x86-64-v4");
  if (want == "base") return detail::gemm_table_base();
  if (want == "avx2") return v3 ? detail::gemm_table_v3() : detail::gemm_table_base();
  if (v4) return detail::gemm_table_v4();
  if (v3) return detail::gemm_table_v3();
#endif
  return detail::gemm_table_base();
}

const detail::GemmTable& table() {
  static const detail::GemmTable t = choose_table();
  return t;
}

// Threads a GEMM may use: fg.set_num_threads / OMP_NUM_THREADS (cpu/parallel.h), and 1
// inside a parallel region (the batched path's per-item calls).
int max_threads() {
#if defined(FG_OPENMP)
  return omp_in_parallel() ? 1 : num_threads();
#else
  return 1;
#endif
}

template <class T>
void run_gemm(const detail::GemmProblem<T>& g) {
  if constexpr (std::is_same_v<T, float>) {
    table().f32(g);
  } else {
    table().f64(g);
  }
}

template <class T>
detail::GemmProblem<T> make_problem(const T* a, int64_t a_rs, int64_t a_cs, const T* b,
                                    int64_t b_rs, int64_t b_cs, T* c, int64_t c_rs, int64_t m,
                                    int64_t n, int64_t k, const T* bias, Activation act,
                                    int threads) {
  detail::GemmProblem<T> g{a, a_rs, a_cs, b, b_rs, b_cs, c, c_rs, 1, m, n, k,
                           bias, false, act == Activation::kRelu, threads};
  if (m * n * k < kParallelMinMacs) g.threads = 1;
  const bool dot_path = a_cs == 1 && b_rs == 1;  // k-contiguous: the kernel's dot path fits
  if (n <= kSwapMaxCols && m >= 2 * n && !dot_path) {
    // Cᵀ (n×m) = Bᵀ·Aᵀ: Bᵀ(i, p) = B(p, i), Aᵀ(p, j) = A(j, p), Cᵀ(i, j) = C(j, i).
    g = detail::GemmProblem<T>{b, b_cs, b_rs, a, a_cs, a_rs, c, 1, c_rs, n, m, k,
                               bias, true, g.relu, g.threads};
  }
  return g;
}

}  // namespace

template <class T>
void gemm(const T* a, int64_t a_rs, int64_t a_cs, const T* b, int64_t b_rs, int64_t b_cs, T* c,
          int64_t c_rs, int64_t m, int64_t n, int64_t k, const T* bias, Activation act) {
  run_gemm(make_problem(a, a_rs, a_cs, b, b_rs, b_cs, c, c_rs, m, n, k, bias, act, max_threads()));
}

template <class T>
void gemm_batched(const T* a, const int64_t* a_off, int64_t a_rs, int64_t a_cs, const T* b,
                  const int64_t* b_off, int64_t b_rs, int64_t b_cs, T* c, int64_t batch,
                  int64_t m, int64_t n, int64_t k) {
  const int threads = max_threads();
  const int64_t item = m * n;
  if (batch > 1 && threads > 1 && m * n * k < kParallelMinMacs &&
      batch * m * n * k >= kParallelMinMacs) {
    // Small items: one item per thread at a time, each single-threaded.
#if defined(FG_OPENMP)
#pragma omp parallel for schedule(static) num_threads(threads)
#endif
    for (int64_t t = 0; t < batch; ++t)
      run_gemm(make_problem(a + a_off[t], a_rs, a_cs, b + b_off[t], b_rs, b_cs, c + t * item, n,
                            m, n, k, static_cast<const T*>(nullptr), Activation::kNone, 1));
    return;
  }
  for (int64_t t = 0; t < batch; ++t)
    run_gemm(make_problem(a + a_off[t], a_rs, a_cs, b + b_off[t], b_rs, b_cs, c + t * item, n, m,
                          n, k, static_cast<const T*>(nullptr), Activation::kNone, threads));
}

template <class T>
void bias_grad(const T* gy, T* gb, int64_t m, int64_t n, int64_t rs, int64_t cs) {
  // Accumulate in double for both dtypes (memory-bound either way).
  auto columns = [&](int64_t j0, int64_t j1) {
    if (j1 <= j0) return;
    if (cs == 1 || rs != 1) {
      // Row by row over a contiguous (or general) row segment: one pass over gy.
      std::vector<double> acc(static_cast<size_t>(j1 - j0), 0.0);
      double* s = acc.data();
      for (int64_t i = 0; i < m; ++i) {
        const T* row = gy + i * rs;
        if (cs == 1) {
          for (int64_t j = j0; j < j1; ++j) s[j - j0] += double(row[j]);
        } else {
          for (int64_t j = j0; j < j1; ++j) s[j - j0] += double(row[j * cs]);
        }
      }
      for (int64_t j = j0; j < j1; ++j) gb[j] = T(s[j - j0]);
    } else {
      // Column-major gy (e.g. a transposed view): each column is contiguous.
      for (int64_t j = j0; j < j1; ++j) {
        const T* col = gy + j * cs;
        double s = 0.0;
        for (int64_t i = 0; i < m; ++i) s += double(col[i]);
        gb[j] = T(s);
      }
    }
  };
  const int threads = max_threads();
  if (threads > 1 && m * n >= (int64_t(1) << 18) && n >= 2 * 16) {
#if defined(FG_OPENMP)
#pragma omp parallel num_threads(threads)
    {
      const int t = omp_get_thread_num(), nt = omp_get_num_threads();
      // Chunks of whole 64-byte lines so threads never write the same line of gb.
      const int64_t lines = (n + 15) / 16;
      columns(std::min(n, lines * t / nt * 16), std::min(n, lines * (t + 1) / nt * 16));
    }
    return;
#endif
  }
  columns(0, n);
}

const char* gemm_isa() { return table().name; }
int gemm_f32_lanes() { return table().f32_lanes; }
double gemm_fma_peak_gflops() { return table().fma_peak_gflops(); }

#define FG_INSTANTIATE(T)                                                                      \
  template void gemm<T>(const T*, int64_t, int64_t, const T*, int64_t, int64_t, T*, int64_t,   \
                        int64_t, int64_t, int64_t, const T*, Activation);                      \
  template void gemm_batched<T>(const T*, const int64_t*, int64_t, int64_t, const T*,          \
                                const int64_t*, int64_t, int64_t, T*, int64_t, int64_t,        \
                                int64_t, int64_t);                                             \
  template void bias_grad<T>(const T*, T*, int64_t, int64_t, int64_t, int64_t);
FG_INSTANTIATE(float)
FG_INSTANTIATE(double)
#undef FG_INSTANTIATE

}  // namespace fg::cpu
