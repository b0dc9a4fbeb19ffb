// Random kernels (CPU): fused inverted dropout. Bits come from Philox-4x32-10 keyed by
// (seed, offset) and the element index (csrc/math/random.h), so the CUDA kernel draws the
// same mask for the same seed.
#pragma once

#include <stdint.h>

namespace fg::cpu {

// Over n contiguous elements: keep[i] = (u_i >= p) with u_i the i-th uniform of stream
// (seed, offset); y[i] = x[i]·scale if kept else 0. Writes y and the mask (0/1 bytes) in one
// pass. y may alias x. scale is 1/(1-p) (the caller passes 0 for p = 1).
template <class T>
void dropout_forward(const T* x, T* y, uint8_t* mask, int64_t n, double p, double scale,
                     uint64_t seed, uint64_t offset);

// gx[i] = gy[i]·scale if mask[i] else 0. gx may alias gy.
template <class T>
void dropout_backward(const T* gy, const uint8_t* mask, T* gx, int64_t n, double scale);

}  // namespace fg::cpu
