// Counter-based random numbers shared by the CPU and CUDA dropout kernels: Philox-4x32-10
// (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11). Every element's bits
// are a pure function of (seed, offset, element index), so a CPU run and a GPU run with the same
// seed draw the same mask, whatever the thread layout.
#pragma once

#include "math/hd.h"

namespace fg {
namespace math {

struct Philox4 {
  unsigned int v[4];
};

// High and low 32 bits of a 32x32 -> 64-bit product.
FG_HD void mulhilo32(unsigned int a, unsigned int b, unsigned int* hi, unsigned int* lo) {
  const unsigned long long p = static_cast<unsigned long long>(a) * b;
  *hi = static_cast<unsigned int>(p >> 32);
  *lo = static_cast<unsigned int>(p);
}

// Philox-4x32 with 10 rounds: counter (c0..c3), key (k0, k1) -> four independent 32-bit words.
// Round: (c0, c1, c2, c3) -> (hi(M1·c2) ^ c1 ^ k0, lo(M1·c2), hi(M0·c0) ^ c3 ^ k1, lo(M0·c0)),
// then the key is bumped by the Weyl constants.
FG_HD Philox4 philox4x32_10(unsigned int c0, unsigned int c1, unsigned int c2, unsigned int c3,
                            unsigned int k0, unsigned int k1) {
  const unsigned int kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  const unsigned int kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    unsigned int hi0, lo0, hi1, lo1;
    mulhilo32(kM0, c0, &hi0, &lo0);
    mulhilo32(kM1, c2, &hi1, &lo1);
    const unsigned int n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
    k0 += kW0;
    k1 += kW1;
  }
  Philox4 r;
  r.v[0] = c0;
  r.v[1] = c1;
  r.v[2] = c2;
  r.v[3] = c3;
  return r;
}

// The four words for element group g = index / 4 of a stream keyed by (seed, offset):
// counter = (g_lo, g_hi, offset_lo, offset_hi), key = (seed_lo, seed_hi). Element index uses
// word index % 4.
FG_HD Philox4 philox_group(unsigned long long seed, unsigned long long offset,
                           unsigned long long group) {
  return philox4x32_10(static_cast<unsigned int>(group), static_cast<unsigned int>(group >> 32),
                       static_cast<unsigned int>(offset), static_cast<unsigned int>(offset >> 32),
                       static_cast<unsigned int>(seed), static_cast<unsigned int>(seed >> 32));
}

// Dropout keeps an element when its uniform u = (bits >> 8) / 2^24 in [0, 1) satisfies u >= p,
// i.e. when bits >> 8 >= ceil(p · 2^24): keep probability 1 - p up to 2^-24.
// p = 0 keeps everything, p = 1 keeps nothing (threshold 2^24 exceeds every 24-bit value).
FG_HD unsigned int dropout_threshold(double p) {
  const double t = p * 16777216.0;
  unsigned int ti = static_cast<unsigned int>(t);
  if (static_cast<double>(ti) < t) ++ti;
  return ti;
}

FG_HD bool dropout_keep(unsigned int bits, unsigned int threshold) {
  return (bits >> 8) >= threshold;
}

// Inverted dropout of one element: y = x · scale when kept (scale = 1/(1-p)), else 0;
// backward: gx = gy · scale when kept, else 0.
template <class T>
FG_HD T dropout_apply(T x, bool keep, T scale) {
  return keep ? x * scale : T(0);
}

}  // namespace math
}  // namespace fg
