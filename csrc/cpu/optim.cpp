// Fused optimizer steps, baseline x86-64 build, plus the run-time choice of instruction set
// (optim_kernels()). The loops themselves are in cpu/optim_impl.h.

#define FG_OPTIM_ISA isa_baseline
#define FG_OPTIM_TABLE_F32 optim_kernels_baseline_f32
#define FG_OPTIM_TABLE_F64 optim_kernels_baseline_f64
#include "cpu/optim_impl.h"

namespace fg::cpu {
namespace {

enum class Isa { kBaseline, kV3, kV4 };

Isa detect_isa() {
#if defined(FG_X86_DISPATCH)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
    return Isa::kV4;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::kV3;
#endif
  return Isa::kBaseline;
}

const Isa kIsa = detect_isa();

}  // namespace

template <>
const OptimKernels<float>& optim_kernels<float>() {
#if defined(FG_X86_DISPATCH)
  static const OptimKernels<float> k = kIsa == Isa::kV4   ? optim_kernels_v4_f32()
                                       : kIsa == Isa::kV3 ? optim_kernels_v3_f32()
                                                          : optim_kernels_baseline_f32();
#else
  static const OptimKernels<float> k = optim_kernels_baseline_f32();
#endif
  return k;
}

template <>
const OptimKernels<double>& optim_kernels<double>() {
#if defined(FG_X86_DISPATCH)
  static const OptimKernels<double> k = kIsa == Isa::kV4   ? optim_kernels_v4_f64()
                                        : kIsa == Isa::kV3 ? optim_kernels_v3_f64()
                                                           : optim_kernels_baseline_f64();
#else
  static const OptimKernels<double> k = optim_kernels_baseline_f64();
#endif
  return k;
}

const char* optim_isa() {
#if defined(__NO_MATH_ERRNO__)
  return kIsa == Isa::kV4 ? "x86-64-v4" : kIsa == Isa::kV3 ? "x86-64-v3" : "baseline";
#else  // see Note [sqrt without errno] in cpu/optim_impl.h
  return kIsa == Isa::kV4   ? "x86-64-v4 (sqrt not vectorised: no -fno-math-errno)"
         : kIsa == Isa::kV3 ? "x86-64-v3 (sqrt not vectorised: no -fno-math-errno)"
                            : "baseline (sqrt not vectorised: no -fno-math-errno)";
#endif
}

}  // namespace fg::cpu
