// Elementwise CUDA kernels, generated from the X-lists of csrc/math/unary.h and binary.h:
//   <op>_forward_<f32|f64>(x, y, n, ndim, meta, a, b)                    FG_UNARY_OPS
//   <op>_backward_<f32|f64>(x, y, gy, gx, n, ndim, meta, a, b)
//   <op>_forward_<f32|f64>(a, b, y, n, ndim, meta)                       FG_BINARY_OPS
//   <op>_backward_<f32|f64>(a, b, y, gy, ga, gb, n, ndim, meta)
//   <cmp>_forward_<f32|f64>(a, b, out, n, ndim, meta)                    FG_COMPARE_OPS (bool out)
// The per-element math is the fg::math functor; nothing is restated here.
//
// Contract (same as csrc/cpu/elementwise.h): the output(s) are C-contiguous over the (broadcast)
// shape of n elements and overlap no input. Inputs are read at their strides, see
// Note [strided meta] in common.cuh: ndim == 0 is the all-contiguous fast path (meta unused,
// may be null), else meta holds the shape and one stride row per operand, in the order the
// operands appear in the signature (unary: x; unary backward: x, y, gy; binary: a, b;
// binary backward: a, b, y, gy). n == 0 does nothing. Launch: 1-D, kBlock threads, any grid.
#include "cuda/common.cuh"
#include "math/binary.h"
#include "math/unary.h"

namespace fg {
namespace cuda {

template <class Op, class T>
__device__ __forceinline__ void unary_forward(const T* x, T* y, long long n, int ndim,
                                              const long long* meta, T a, T b) {
  if (ndim == 0) {
    FG_GRID_STRIDE_LOOP(i, n) y[i] = Op::forward(x[i], a, b);
    return;
  }
  __shared__ long long sm[2 * kMaxDims];
  load_meta(meta, 2 * ndim, sm);
  FG_GRID_STRIDE_LOOP(i, n) {
    long long off[1];
    strided_offsets<1>(i, ndim, sm, off);
    y[i] = Op::forward(x[off[0]], a, b);
  }
}

template <class Op, class T>
__device__ __forceinline__ void unary_backward(const T* x, const T* y, const T* gy, T* gx,
                                               long long n, int ndim, const long long* meta,
                                               T a, T b) {
  if (ndim == 0) {
    FG_GRID_STRIDE_LOOP(i, n) gx[i] = Op::backward(x[i], y[i], gy[i], a, b);
    return;
  }
  __shared__ long long sm[4 * kMaxDims];
  load_meta(meta, 4 * ndim, sm);
  FG_GRID_STRIDE_LOOP(i, n) {
    long long off[3];
    strided_offsets<3>(i, ndim, sm, off);
    gx[i] = Op::backward(x[off[0]], y[off[1]], gy[off[2]], a, b);
  }
}

template <class Op, class T, class Out>
__device__ __forceinline__ void binary_forward(const T* a, const T* b, Out* y, long long n,
                                               int ndim, const long long* meta) {
  if (ndim == 0) {
    FG_GRID_STRIDE_LOOP(i, n) y[i] = Op::forward(a[i], b[i]);
    return;
  }
  __shared__ long long sm[3 * kMaxDims];
  load_meta(meta, 3 * ndim, sm);
  FG_GRID_STRIDE_LOOP(i, n) {
    long long off[2];
    strided_offsets<2>(i, ndim, sm, off);
    y[i] = Op::forward(a[off[0]], b[off[1]]);
  }
}

// ga / gb may be null (not wanted); y is read only when Op::kUsesY (it may be null otherwise).
template <class Op, class T>
__device__ __forceinline__ void binary_backward(const T* a, const T* b, const T* y, const T* gy,
                                                T* ga, T* gb, long long n, int ndim,
                                                const long long* meta) {
  if (ndim == 0) {
    FG_GRID_STRIDE_LOOP(i, n) {
      const T av = a[i], bv = b[i], g = gy[i];
      const T yv = Op::kUsesY ? y[i] : T(0);
      if (ga) ga[i] = Op::backward_a(av, bv, yv, g);
      if (gb) gb[i] = Op::backward_b(av, bv, yv, g);
    }
    return;
  }
  __shared__ long long sm[5 * kMaxDims];
  load_meta(meta, 5 * ndim, sm);
  FG_GRID_STRIDE_LOOP(i, n) {
    long long off[4];
    strided_offsets<4>(i, ndim, sm, off);
    const T av = a[off[0]], bv = b[off[1]], g = gy[off[3]];
    const T yv = Op::kUsesY ? y[off[2]] : T(0);
    if (ga) ga[i] = Op::backward_a(av, bv, yv, g);
    if (gb) gb[i] = Op::backward_b(av, bv, yv, g);
  }
}

}  // namespace cuda
}  // namespace fg

#define FG_CUDA_UNARY_KERNELS_T(name, Functor, T, sfx)                                         \
  extern "C" __global__ void name##_forward_##sfx(const T* x, T* y, long long n, int ndim,     \
                                                  const long long* meta, T a, T b) {           \
    fg::cuda::unary_forward<fg::math::Functor, T>(x, y, n, ndim, meta, a, b);                 \
  }                                                                                            \
  extern "C" __global__ void name##_backward_##sfx(const T* x, const T* y, const T* gy, T* gx, \
                                                   long long n, int ndim,                      \
                                                   const long long* meta, T a, T b) {          \
    fg::cuda::unary_backward<fg::math::Functor, T>(x, y, gy, gx, n, ndim, meta, a, b);        \
  }
#define FG_CUDA_UNARY_KERNELS(name, Functor)           \
  FG_CUDA_F32(FG_CUDA_UNARY_KERNELS_T(name, Functor, float, f32)) \
  FG_CUDA_F64(FG_CUDA_UNARY_KERNELS_T(name, Functor, double, f64))

#define FG_CUDA_BINARY_KERNELS_T(name, Functor, T, sfx)                                          \
  extern "C" __global__ void name##_forward_##sfx(const T* a, const T* b, T* y, long long n,    \
                                                  int ndim, const long long* meta) {            \
    fg::cuda::binary_forward<fg::math::Functor, T, T>(a, b, y, n, ndim, meta);                 \
  }                                                                                             \
  extern "C" __global__ void name##_backward_##sfx(const T* a, const T* b, const T* y,          \
                                                   const T* gy, T* ga, T* gb, long long n,      \
                                                   int ndim, const long long* meta) {           \
    fg::cuda::binary_backward<fg::math::Functor, T>(a, b, y, gy, ga, gb, n, ndim, meta);       \
  }
#define FG_CUDA_BINARY_KERNELS(name, Functor)           \
  FG_CUDA_F32(FG_CUDA_BINARY_KERNELS_T(name, Functor, float, f32)) \
  FG_CUDA_F64(FG_CUDA_BINARY_KERNELS_T(name, Functor, double, f64))

#define FG_CUDA_COMPARE_KERNELS_T(name, Functor, T, sfx)                                       \
  extern "C" __global__ void name##_forward_##sfx(const T* a, const T* b, bool* out,          \
                                                  long long n, int ndim,                      \
                                                  const long long* meta) {                    \
    fg::cuda::binary_forward<fg::math::Functor, T, bool>(a, b, out, n, ndim, meta);          \
  }
#define FG_CUDA_COMPARE_KERNELS(name, Functor)           \
  FG_CUDA_F32(FG_CUDA_COMPARE_KERNELS_T(name, Functor, float, f32)) \
  FG_CUDA_F64(FG_CUDA_COMPARE_KERNELS_T(name, Functor, double, f64))

FG_UNARY_OPS(FG_CUDA_UNARY_KERNELS)
FG_BINARY_OPS(FG_CUDA_BINARY_KERNELS)
FG_COMPARE_OPS(FG_CUDA_COMPARE_KERNELS)
