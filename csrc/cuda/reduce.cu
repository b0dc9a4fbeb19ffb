// Reduction CUDA kernels (sum / mean / max / min, arg-max / arg-min, variance).
//   reduce_rows_<op>_<f32|f64>(x, out, rows, cols)         op in sum, mean, max, min
//       x is C-contiguous (rows, cols); out[r] = op over x[r, :]. One block per row
//       (grid-stride over rows), kRowBlock threads, block reduction.
//   reduce_chunks_<op>_<f32|f64>(x, partials, rows, cols, chunk)
//       first stage for long rows: partials[r * nchunks + c] = op over chunk c of row r (no
//       mean division); the caller reduces the (rows, nchunks) partials in a second launch.
//   reduce_cols_<op>_<f32|f64>(x, out, outer, len, inner)
//       x is C-contiguous (outer, len, inner); out[o, j] = op over x[o, :, j]. One thread per
//       output element (1-D grid-stride, kBlock threads): reads are coalesced across j.
//   argreduce_rows_<max|min>_<f32|f64>(x, values, indices, rows, cols)
//       the value and the int64 index of the max / min of each row; ties go to the first
//       index; NaN counts as larger than everything for max and smaller for min, so the first
//       NaN wins either way (torch.argmax / argmin).
//   var_rows_<f32|f64>(x, out, rows, cols, correction)        (correction: a double)
//       Σ(x - mean)² / max(cols - correction, 0), two passes over the row (mean first).
// Combine, identity, variance finish and arg selection are math/reduce.h's (shared with the
// CPU). Sums accumulate in acc_t<T>; max / min propagate NaN (NumPy / PyTorch). Python never
// launches max / min / arg* on empty rows (it raises first); sum of nothing is 0, mean is NaN.
#include "cuda/common.cuh"

namespace fg {
namespace cuda {

// Reduction flavours over the math/reduce.h reducers: accumulation type, combine + identity
// (R::Op), and the finishing step (mean divides by the count).
template <class T, class Reducer, bool kMean>
struct Red {
  using A = math::acc_t<T>;
  using Op = Reducer;
  static __device__ __forceinline__ A identity() { return Reducer::template identity<A>(); }
  static __device__ __forceinline__ T finish(A v, long long n) {
    return kMean ? T(v / A(n)) : T(v);
  }
};
template <class T>
using SumRed = Red<T, math::SumReduce, false>;
template <class T>
using MeanRed = Red<T, math::SumReduce, true>;
template <class T>
using MaxRed = Red<T, math::MaxReduce, false>;
template <class T>
using MinRed = Red<T, math::MinReduce, false>;

template <class R, class T>
__device__ __forceinline__ void reduce_rows(const T* x, T* out, long long rows, long long cols) {
  using A = typename R::A;
  __shared__ A scratch[33];
  for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* row = x + r * cols;
    A v = R::identity();
    for (long long j = threadIdx.x; j < cols; j += blockDim.x)
      v = R::Op::combine(v, static_cast<A>(row[j]));
    v = block_reduce<typename R::Op>(v, R::identity(), scratch);
    if (threadIdx.x == 0) out[r] = R::finish(v, cols);
  }
}

// Long rows: block b reduces chunk b % nchunks of row b / nchunks (chunk values each) without
// the finishing step; a second launch reduces the partials (Python: two-stage reduce).
template <class R, class T>
__device__ __forceinline__ void reduce_chunks(const T* x, T* partials, long long rows,
                                              long long cols, long long chunk) {
  using A = typename R::A;
  __shared__ A scratch[33];
  const long long nchunks = (cols + chunk - 1) / chunk;
  for (long long b = blockIdx.x; b < rows * nchunks; b += gridDim.x) {
    const long long r = b / nchunks, c = b - r * nchunks;
    const long long lo = c * chunk, hi = lo + chunk < cols ? lo + chunk : cols;
    const T* row = x + r * cols;
    A v = R::identity();
    for (long long j = lo + threadIdx.x; j < hi; j += blockDim.x)
      v = R::Op::combine(v, static_cast<A>(row[j]));
    v = block_reduce<typename R::Op>(v, R::identity(), scratch);
    if (threadIdx.x == 0) partials[b] = static_cast<T>(v);
  }
}

template <class R, class T>
__device__ __forceinline__ void reduce_cols(const T* x, T* out, long long outer, long long len,
                                            long long inner) {
  using A = typename R::A;
  FG_GRID_STRIDE_LOOP(t, outer * inner) {
    const long long o = t / inner, j = t - o * inner;
    const T* p = x + o * len * inner + j;
    A v = R::identity();
    for (long long r = 0; r < len; ++r) v = R::Op::combine(v, static_cast<A>(p[r * inner]));
    out[t] = R::finish(v, len);
  }
}

// Whether candidate (v, i) beats the current (bv, bi): Sel::better (math/reduce.h) either
// way, and the smaller index when neither is better (ties, or both nan), so the result is the
// first index whatever order threads merge in.
template <class Sel, class T>
__device__ __forceinline__ bool arg_better(T v, long long i, T bv, long long bi) {
  if (Sel::better(v, bv)) return true;
  return !Sel::better(bv, v) && i < bi;
}

template <class Sel, bool kMax, class T>
__device__ __forceinline__ void argreduce_rows(const T* x, T* values, long long* indices,
                                               long long rows, long long cols) {
  __shared__ T sv[32];
  __shared__ long long si[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int nwarps = (blockDim.x + 31) >> 5;
  const long long kNone = 0x7fffffffffffffffLL;
  const T ident = kMax ? -math::hd_infinity<T>() : math::hd_infinity<T>();
  for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* row = x + r * cols;
    T bv = ident;
    long long bi = kNone;
    for (long long j = threadIdx.x; j < cols; j += blockDim.x)
      if (arg_better<Sel>(row[j], j, bv, bi)) {
        bv = row[j];
        bi = j;
      }
    for (int o = 16; o > 0; o >>= 1) {
      const T v = __shfl_down_sync(0xffffffffu, bv, o);
      const long long i = __shfl_down_sync(0xffffffffu, bi, o);
      if (arg_better<Sel>(v, i, bv, bi)) {
        bv = v;
        bi = i;
      }
    }
    __syncthreads();
    if (lane == 0) {
      sv[warp] = bv;
      si[warp] = bi;
    }
    __syncthreads();
    if (warp == 0) {
      bv = lane < nwarps ? sv[lane] : ident;
      bi = lane < nwarps ? si[lane] : kNone;
      for (int o = 16; o > 0; o >>= 1) {
        const T v = __shfl_down_sync(0xffffffffu, bv, o);
        const long long i = __shfl_down_sync(0xffffffffu, bi, o);
        if (arg_better<Sel>(v, i, bv, bi)) {
          bv = v;
          bi = i;
        }
      }
      if (lane == 0) {
        values[r] = bv;
        indices[r] = bi;
      }
    }
  }
}

template <class T>
__device__ __forceinline__ void var_rows(const T* x, T* out, long long rows, long long cols,
                                         double correction) {
  using A = math::acc_t<T>;
  __shared__ A scratch[33];
  for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* row = x + r * cols;
    A s = A(0);
    for (long long j = threadIdx.x; j < cols; j += blockDim.x) s += static_cast<A>(row[j]);
    const A mean = block_reduce<math::SumReduce>(s, A(0), scratch) / A(cols);
    A ss = A(0);
    for (long long j = threadIdx.x; j < cols; j += blockDim.x)
      ss += math::SqDevMap::apply(static_cast<A>(row[j]), mean);
    ss = block_reduce<math::SumReduce>(ss, A(0), scratch);
    if (threadIdx.x == 0)
      out[r] = static_cast<T>(math::var_finalize(ss, A(cols), A(correction)));
  }
}

}  // namespace cuda
}  // namespace fg

#define FG_CUDA_REDUCE_KERNELS_T(op, Red, T, sfx)                                                \
  extern "C" __global__ void reduce_rows_##op##_##sfx(const T* x, T* out, long long rows,       \
                                                      long long cols) {                        \
    fg::cuda::reduce_rows<fg::cuda::Red<T>, T>(x, out, rows, cols);                             \
  }                                                                                              \
  extern "C" __global__ void reduce_chunks_##op##_##sfx(const T* x, T* partials, long long rows, \
                                                        long long cols, long long chunk) {     \
    fg::cuda::reduce_chunks<fg::cuda::Red<T>, T>(x, partials, rows, cols, chunk);                \
  }                                                                                              \
  extern "C" __global__ void reduce_cols_##op##_##sfx(const T* x, T* out, long long outer,      \
                                                      long long len, long long inner) {        \
    fg::cuda::reduce_cols<fg::cuda::Red<T>, T>(x, out, outer, len, inner);                      \
  }
#define FG_CUDA_REDUCE_KERNELS(op, Red)           \
  FG_CUDA_F32(FG_CUDA_REDUCE_KERNELS_T(op, Red, float, f32)) \
  FG_CUDA_F64(FG_CUDA_REDUCE_KERNELS_T(op, Red, double, f64))

#define FG_CUDA_ARGREDUCE_KERNELS_T(op, Sel, kMax, T, sfx)                                         \
  extern "C" __global__ void argreduce_rows_##op##_##sfx(const T* x, T* values,              \
                                                         long long* indices, long long rows, \
                                                         long long cols) {                   \
    fg::cuda::argreduce_rows<fg::math::Sel, kMax, T>(x, values, indices, rows, cols);         \
  }

// X(op, flavour): the reductions generated below (Python's REDUCE_OPS mirrors this list).
#define FG_CUDA_REDUCE_OPS(X) \
  X(sum, SumRed)              \
  X(mean, MeanRed)            \
  X(max, MaxRed)              \
  X(min, MinRed)

FG_CUDA_REDUCE_OPS(FG_CUDA_REDUCE_KERNELS)
FG_CUDA_F32(FG_CUDA_ARGREDUCE_KERNELS_T(max, ArgMax, true, float, f32))
FG_CUDA_F64(FG_CUDA_ARGREDUCE_KERNELS_T(max, ArgMax, true, double, f64))
FG_CUDA_F32(FG_CUDA_ARGREDUCE_KERNELS_T(min, ArgMin, false, float, f32))
FG_CUDA_F64(FG_CUDA_ARGREDUCE_KERNELS_T(min, ArgMin, false, double, f64))

#define FG_CUDA_VAR_KERNEL_T(T, sfx)                                                      \
  extern "C" __global__ void var_rows_##sfx(const T* x, T* out, long long rows,          \
                                            long long cols, double correction) {         \
    fg::cuda::var_rows<T>(x, out, rows, cols, correction);                                \
  }
FG_CUDA_F32(FG_CUDA_VAR_KERNEL_T(float, f32))
FG_CUDA_F64(FG_CUDA_VAR_KERNEL_T(double, f64))
