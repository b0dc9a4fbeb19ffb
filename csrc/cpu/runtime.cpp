// Thread-count setting shared by every CPU kernel (see cpu/parallel.h).
#include <atomic>

#include "cpu/parallel.h"

namespace fg::cpu {

namespace {
int default_threads() {
#if defined(FG_OPENMP)
  // omp_get_max_threads() honours OMP_NUM_THREADS (read when libgomp loads).
  const int n = omp_get_max_threads();
  return n > 0 ? n : 1;
#else
  return 1;
#endif
}

std::atomic<int> g_num_threads{0};  // 0: not yet read from the OpenMP runtime
}  // namespace

int num_threads() {
  int n = g_num_threads.load(std::memory_order_relaxed);
  if (n == 0) {
    n = default_threads();
    g_num_threads.store(n, std::memory_order_relaxed);
  }
  return n;
}

void set_num_threads(int n) {
#if defined(FG_OPENMP)
  g_num_threads.store(n < 1 ? 1 : n, std::memory_order_relaxed);
#else
  (void)n;  // serial build: stays 1
  g_num_threads.store(1, std::memory_order_relaxed);
#endif
}

bool has_openmp() {
#if defined(FG_OPENMP)
  return true;
#else
  return false;
#endif
}

}  // namespace fg::cpu
