// Fused dropout kernels (CPU); contracts in cpu/random.h, generator in math/random.h.
#include "cpu/random.h"

#include "cpu/parallel.h"
#include "math/random.h"

namespace fg::cpu {

namespace fm = fg::math;

template <class T>
void dropout_forward(const T* x, T* y, uint8_t* mask, int64_t n, double p, double scale,
                     uint64_t seed, uint64_t offset) {
  const unsigned int thr = fm::dropout_threshold(p);
  const T s = static_cast<T>(scale);
  const int64_t groups = (n + 3) / 4;
  // Each group of 4 elements uses one Philox call; pieces are whole groups.
  parallel_for(groups, 16, [&](int64_t lo, int64_t hi) {
    for (int64_t g = lo; g < hi; ++g) {
      const fm::Philox4 r = fm::philox_group(seed, offset, static_cast<uint64_t>(g));
      const int64_t i0 = 4 * g;
      const int m = n - i0 < 4 ? static_cast<int>(n - i0) : 4;
      for (int j = 0; j < m; ++j) {
        const bool keep = fm::dropout_keep(r.v[j], thr);
        mask[i0 + j] = keep ? 1 : 0;
        y[i0 + j] = fm::dropout_apply(x[i0 + j], keep, s);
      }
    }
  });
}

template <class T>
void dropout_backward(const T* gy, const uint8_t* mask, T* gx, int64_t n, double scale) {
  const T s = static_cast<T>(scale);
  parallel_for(n, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) gx[i] = fm::dropout_apply(gy[i], mask[i] != 0, s);
  });
}

template void dropout_forward<float>(const float*, float*, uint8_t*, int64_t, double, double,
                                     uint64_t, uint64_t);
template void dropout_forward<double>(const double*, double*, uint8_t*, int64_t, double, double,
                                      uint64_t, uint64_t);
template void dropout_backward<float>(const float*, const uint8_t*, float*, int64_t, double);
template void dropout_backward<double>(const double*, const uint8_t*, double*, int64_t, double);

}  // namespace fg::cpu
