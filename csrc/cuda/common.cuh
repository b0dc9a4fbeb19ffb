// Helpers shared by every CUDA kernel file: grid-stride loops with 64-bit indices, strided
// (broadcast) offsets, block reductions, and the launch-shape constants.
//
// Compiled at run time by NVRTC (CuPy RawModule, `-I <csrc dir> -std=c++17`) and checked offline
// with `nvcc --ptx` and raw NVRTC in tests/backend/test_cuda_sources.py. NVRTC has no standard
// headers, so nothing here includes any: 64-bit integers are spelled `long long`.
#pragma once

#include "math/hd.h"
#include "math/reduce.h"

namespace fg {
namespace cuda {

// Launch shapes. Mirrored in python/fusegrad/backend/cuda.py (BLOCK, MAX_GRID, MAX_DIMS,
// ROW_BLOCK), which chooses every grid; keep the two in sync.
//   kBlock:    threads per block of the elementwise / optimizer / flat kernels.
//   kMaxGrid:  blocks at most per flat launch; grid-stride loops cover the rest.
//   kMaxDims:  dims of the strided (broadcast) path after Python merged adjacent dims.
//   kRowBlock: threads per block of the per-row kernels (reductions, softmax-CE, BN).
constexpr int kBlock = 256;
constexpr int kMaxGrid = 4096;
constexpr int kMaxDims = 8;
constexpr int kRowBlock = 256;

// Note [per-dtype modules]
// backend/cuda.py builds each .cu once per dtype, with -DFG_CUDA_DTYPE_F32 or
// -DFG_CUDA_DTYPE_F64, so a float32-only program compiles only the f32 kernels. With neither
// defined (the compile tests) both are built. Every instantiation line is wrapped in these.
#if defined(FG_CUDA_DTYPE_F64)
#define FG_CUDA_F32(...)
#else
#define FG_CUDA_F32(...) __VA_ARGS__
#endif
#if defined(FG_CUDA_DTYPE_F32)
#define FG_CUDA_F64(...)
#else
#define FG_CUDA_F64(...) __VA_ARGS__
#endif

// for (i = global thread id; i < n; i += total threads), with 64-bit i.
#define FG_GRID_STRIDE_LOOP(i, n)                                                           \
  for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<long long>(blockDim.x) * gridDim.x)

// Note [strided meta]
// The strided path of a kernel with K operands gets `ndim` (1..kMaxDims) and a device array
// `meta` of (1 + K)·ndim long longs: the shape, then each operand's strides in ELEMENTS
// (0 on broadcast dims, negative allowed). Python merges dims and caches meta per
// (shape, strides) so a training loop uploads it once. ndim == 0 means every operand is
// C-contiguous over the output: index i is the offset of every operand (the fast path).
// load_meta copies meta into shared memory once per block.
__device__ __forceinline__ void load_meta(const long long* meta, int count, long long* sm) {
  for (int t = threadIdx.x; t < count; t += blockDim.x) sm[t] = meta[t];
  __syncthreads();
}

// Offsets of K operands for flat (C-order) index i over sm = [shape, strides_0, ...].
template <int K>
__device__ __forceinline__ void strided_offsets(long long i, int ndim, const long long* sm,
                                                long long* off) {
#pragma unroll
  for (int k = 0; k < K; ++k) off[k] = 0;
  for (int d = ndim - 1; d >= 0; --d) {
    const long long len = sm[d];
    const long long q = i / len;
    const long long idx = i - q * len;
    i = q;
#pragma unroll
    for (int k = 0; k < K; ++k) off[k] += idx * sm[(k + 1) * ndim + d];
  }
}

// ---- block reductions -------------------------------------------------------------------
// Op is a reducer of math/reduce.h (SumReduce, MaxReduce, MinReduce): Op::combine(acc, v).
template <class Op, class A>
__device__ __forceinline__ A warp_reduce(A v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = Op::combine(v, __shfl_down_sync(0xffffffffu, v, o));
  return v;
}

// Reduces one value per thread over the whole block; every thread gets the result.
// `identity` is Op's neutral element (Op::identity<A>()). `scratch` is a
// __shared__ array of at least 33 A's. Safe to call repeatedly (it syncs before reusing
// scratch). blockDim.x must be a multiple of 32 (all launches use kRowBlock = 256).
template <class Op, class A>
__device__ A block_reduce(A v, A identity, A* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int nwarps = (blockDim.x + 31) >> 5;
  v = warp_reduce<Op>(v);
  __syncthreads();  // the previous call's readers are done with scratch
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  if (warp == 0) {
    A w = lane < nwarps ? scratch[lane] : identity;
    w = warp_reduce<Op>(w);
    if (lane == 0) scratch[32] = w;
  }
  __syncthreads();
  return scratch[32];
}

}  // namespace cuda
}  // namespace fg
