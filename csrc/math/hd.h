// FG_HD and the math wrappers shared by the C++ CPU kernels and the CUDA kernels.
//
// Everything in csrc/math/ is header-only, templated on the element type T, and compiles
// three ways: g++ (CPU), nvcc (the `nvcc --ptx` test) and NVRTC (CuPy at run time). NVRTC has
// no <cmath>, so host headers are included only outside NVRTC, and math goes through the
// hd_* overloads below, which call the C functions that exist on both sides.
#pragma once

#if defined(__CUDACC__)
#define FG_HD __host__ __device__ __forceinline__
#else
#define FG_HD inline
#endif

#if !defined(__CUDACC_RTC__)
#include <math.h>
#include <stdint.h>
#endif

namespace fg {
namespace math {

// Accumulation type: reductions and statistics accumulate in at least float, double for double.
template <class T>
struct AccType {
  using type = T;
};
template <class T>
using acc_t = typename AccType<T>::type;

FG_HD float hd_exp(float x) { return ::expf(x); }
FG_HD double hd_exp(double x) { return ::exp(x); }
FG_HD float hd_log(float x) { return ::logf(x); }
FG_HD double hd_log(double x) { return ::log(x); }
FG_HD float hd_log1p(float x) { return ::log1pf(x); }
FG_HD double hd_log1p(double x) { return ::log1p(x); }
FG_HD float hd_sqrt(float x) { return ::sqrtf(x); }
FG_HD double hd_sqrt(double x) { return ::sqrt(x); }
FG_HD float hd_tanh(float x) { return ::tanhf(x); }
FG_HD double hd_tanh(double x) { return ::tanh(x); }
FG_HD float hd_pow(float x, float y) { return ::powf(x, y); }
FG_HD double hd_pow(double x, double y) { return ::pow(x, y); }
FG_HD float hd_abs(float x) { return ::fabsf(x); }
FG_HD double hd_abs(double x) { return ::fabs(x); }
FG_HD float hd_cos(float x) { return ::cosf(x); }
FG_HD double hd_cos(double x) { return ::cos(x); }
FG_HD float hd_sin(float x) { return ::sinf(x); }
FG_HD double hd_sin(double x) { return ::sin(x); }

template <class T>
FG_HD T hd_max(T a, T b) {
  return a > b ? a : b;
}
template <class T>
FG_HD T hd_min(T a, T b) {
  return a < b ? a : b;
}

}  // namespace math
}  // namespace fg
