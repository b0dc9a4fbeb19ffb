// Threading for every CPU kernel: the one size threshold, the thread-count setting, and
// parallel_for / deterministic chunking helpers built on OpenMP (or serial without it).
//
// Compiled with FG_OPENMP=1 when CMake found OpenMP; without it everything runs on the
// calling thread and num_threads() is 1.
#pragma once

#include <stdint.h>

#include <algorithm>

#if defined(FG_OPENMP)
#include <omp.h>
#endif

namespace fg::cpu {

// Minimum work (elements touched) per thread. Below it a kernel stays on the calling thread:
// waking a sleeping OpenMP worker (OMP_WAIT_POLICY=PASSIVE, see python/fusegrad/_ext.py)
// costs some 15-20 us here (a 128 x 512 column sum: 25 us on one thread, 42 us on two with
// a grain of 64K), about what a cheap op does to 100K floats, and on a machine whose other
// core is busy a woken worker may not run at all for a while.
// A kernel of n elements uses min(num_threads(), n / kParallelGrain) threads.
constexpr int64_t kParallelGrain = int64_t(1) << 17;

// Threads kernels may use (>= 1). Defaults to omp_get_max_threads(), i.e. OMP_NUM_THREADS
// when set; changed by set_num_threads (fg.set_num_threads). Defined in cpu/runtime.cpp.
int num_threads();
void set_num_threads(int n);
bool has_openmp();

// Threads worth using for `work` elements.
inline int threads_for(int64_t work, int64_t grain = kParallelGrain) {
  const int64_t by_size = work / (grain > 0 ? grain : 1);
  const int nt = num_threads();
  return by_size >= nt ? nt : (by_size < 1 ? 1 : static_cast<int>(by_size));
}

// Calls f(lo, hi) over consecutive pieces covering [0, n). Pieces are taken dynamically
// (about 8 per thread) rather than statically: when another process holds one core, the
// thread that shares it simply takes fewer pieces instead of making every call wait for its
// statically assigned half (see bench/bench_elementwise.py --busy). `cost` is the work per
// index in elements, used only to pick the thread count. f must not throw.
template <class F>
void parallel_for(int64_t n, int64_t cost, F&& f) {
  if (n <= 0) return;
#if defined(FG_OPENMP)
  const int nt = threads_for(n * (cost > 0 ? cost : 1));
  if (nt > 1 && n > 1) {
    const int64_t pieces = std::min<int64_t>(n, int64_t(nt) * 8);
    const int64_t step = (n + pieces - 1) / pieces;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int64_t p = 0; p < pieces; ++p) {
      const int64_t lo = p * step;
      const int64_t hi = std::min(n, lo + step);
      if (lo < hi) f(lo, hi);
    }
    return;
  }
#else
  (void)cost;
#endif
  f(int64_t(0), n);
}

// Calls f(c) for every chunk index c in [0, nchunks), in parallel when the total work
// (nchunks * cost elements) is worth it. The chunking is chosen by the caller from sizes
// only, never from the thread count, so reductions built on it give bit-identical results
// for any number of threads.
template <class F>
void parallel_chunks(int64_t nchunks, int64_t cost, F&& f) {
  parallel_for(nchunks, cost, [&](int64_t lo, int64_t hi) {
    for (int64_t c = lo; c < hi; ++c) f(c);
  });
}

}  // namespace fg::cpu
