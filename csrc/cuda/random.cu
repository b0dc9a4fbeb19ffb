// Dropout CUDA kernels. The mask bits come from csrc/math/random.h (Philox-4x32-10 keyed by
// seed, counter = (element group, offset)), the same function the CPU kernels call, so a CPU
// run and a GPU run with the same (seed, offset) drop exactly the same elements.
//   dropout_mask(mask, n, seed, offset, p)                mask[i] = keep (bool)
//   dropout_forward_<t>(x, y, mask, n, seed, offset, p, scale)
//       y[i] = x[i]·scale where kept, else 0; mask (bool) may be null (not saved).
//   dropout_backward_<t>(gy, mask, gx, n, scale)          gx[i] = gy[i]·scale where mask[i]
// All arrays C-contiguous with n elements; y / gx must not overlap x / gy. Element i uses word
// i % 4 of Philox group i / 4. Launch: 1-D, kBlock threads, grid-stride over groups of 4
// (dropout_mask / forward) or elements (backward).
#include "cuda/common.cuh"
#include "math/random.h"

namespace fg {
namespace cuda {

// Calls f(i, keep) for each element of the groups this thread owns.
template <class F>
__device__ __forceinline__ void for_each_keep(long long n, unsigned long long seed,
                                              unsigned long long offset, double p, F&& f) {
  const unsigned int threshold = fg::math::dropout_threshold(p);
  const long long groups = (n + 3) / 4;
  FG_GRID_STRIDE_LOOP(g, groups) {
    const fg::math::Philox4 r =
        fg::math::philox_group(seed, offset, static_cast<unsigned long long>(g));
#pragma unroll
    for (int w = 0; w < 4; ++w) {
      const long long i = g * 4 + w;
      if (i < n) f(i, fg::math::dropout_keep(r.v[w], threshold));
    }
  }
}

template <class T>
__device__ __forceinline__ void dropout_forward(const T* x, T* y, bool* mask, long long n,
                                                unsigned long long seed,
                                                unsigned long long offset, double p, T scale) {
  for_each_keep(n, seed, offset, p, [&](long long i, bool keep) {
    y[i] = fg::math::dropout_apply(x[i], keep, scale);
    if (mask) mask[i] = keep;
  });
}

template <class T>
__device__ __forceinline__ void dropout_backward(const T* gy, const bool* mask, T* gx,
                                                 long long n, T scale) {
  FG_GRID_STRIDE_LOOP(i, n) gx[i] = fg::math::dropout_apply(gy[i], mask[i], scale);
}

}  // namespace cuda
}  // namespace fg

extern "C" __global__ void dropout_mask(bool* mask, long long n, unsigned long long seed,
                                        unsigned long long offset, double p) {
  fg::cuda::for_each_keep(n, seed, offset, p, [&](long long i, bool keep) { mask[i] = keep; });
}

#define FG_CUDA_RANDOM_KERNELS_T(T, sfx)                                                       \
  extern "C" __global__ void dropout_forward_##sfx(const T* x, T* y, bool* mask, long long n, \
                                                   unsigned long long seed,                   \
                                                   unsigned long long offset, double p,       \
                                                   T scale) {                                 \
    fg::cuda::dropout_forward<T>(x, y, mask, n, seed, offset, p, scale);                      \
  }                                                                                            \
  extern "C" __global__ void dropout_backward_##sfx(const T* gy, const bool* mask, T* gx,     \
                                                    long long n, T scale) {                   \
    fg::cuda::dropout_backward<T>(gy, mask, gx, n, scale);                                    \
  }

FG_CUDA_F32(FG_CUDA_RANDOM_KERNELS_T(float, f32))
FG_CUDA_F64(FG_CUDA_RANDOM_KERNELS_T(double, f64))
