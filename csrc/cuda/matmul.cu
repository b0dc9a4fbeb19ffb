// Linear-layer epilogue and bias gradient. The GEMM itself is cuBLAS (cupy.matmul); these
// kernels do what the CPU GEMM does in its store step.
//   linear_forward_<f32|f64>(y, bias, rows, cols, relu)
//       In place on y (C-contiguous rows x cols, the GEMM output): y = act(y + bias[col]),
//       act = relu when relu != 0, bias may be null. 1-D launch, kBlock threads, grid-stride.
//   bias_grad_<f32|f64>(gy, out, rows, cols)
//       out[c] = Σ_r gy[r, c] (gy C-contiguous), accumulated in acc_t<T>. Launch: block
//       (kColTile, kRowLanes) = (32, 8), grid ceil(cols / 32): each block owns 32 columns,
//       its 8 row lanes stride over the rows, then a shared-memory sum over the lanes.
// The per-element math is fg::math::Add / Relu (math/binary.h, math/unary.h).
#include "cuda/common.cuh"
#include "math/binary.h"
#include "math/unary.h"

namespace fg {
namespace cuda {

constexpr int kColTile = 32;  // mirrored in backend/cuda.py (bias_grad launch)
constexpr int kRowLanes = 8;

template <class T>
__device__ __forceinline__ void linear_forward(T* y, const T* bias, long long rows,
                                               long long cols, int relu) {
  FG_GRID_STRIDE_LOOP(i, rows * cols) {
    T v = y[i];
    if (bias) v = fg::math::Add::forward(v, bias[i % cols]);
    if (relu) v = fg::math::Relu::forward(v, T(0), T(0));
    y[i] = v;
  }
}

template <class T>
__device__ __forceinline__ void bias_grad(const T* gy, T* out, long long rows, long long cols) {
  using A = fg::math::acc_t<T>;
  __shared__ A part[kRowLanes][kColTile];
  const long long c = static_cast<long long>(blockIdx.x) * kColTile + threadIdx.x;
  A s = A(0);
  if (c < cols)
    for (long long r = threadIdx.y; r < rows; r += kRowLanes) s += static_cast<A>(gy[r * cols + c]);
  part[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    A t = A(0);
    for (int k = 0; k < kRowLanes; ++k) t += part[k][threadIdx.x];
    out[c] = static_cast<T>(t);
  }
}

}  // namespace cuda
}  // namespace fg

#define FG_CUDA_MATMUL_KERNELS_T(T, sfx)                                                      \
  extern "C" __global__ void linear_forward_##sfx(T* y, const T* bias, long long rows,      \
                                                  long long cols, int relu) {               \
    fg::cuda::linear_forward<T>(y, bias, rows, cols, relu);                                  \
  }                                                                                           \
  extern "C" __global__ void bias_grad_##sfx(const T* gy, T* out, long long rows,           \
                                             long long cols) {                              \
    fg::cuda::bias_grad<T>(gy, out, rows, cols);                                             \
  }

FG_CUDA_F32(FG_CUDA_MATMUL_KERNELS_T(float, f32))
FG_CUDA_F64(FG_CUDA_MATMUL_KERNELS_T(double, f64))
