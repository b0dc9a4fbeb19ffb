// Fused optimizer steps, baseline x86-64 build, plus the run-time choice of instruction set
// (optim_kernels()). The loops themselves are in cpu/optim_impl.h.

#define FG_OPTIM_ISA isa_baseline
#define FG_OPTIM_TABLE_F32 optim_kernels_baseline_f32
#define FG_OPTIM_TABLE_F64 optim_kernels_baseline_f64
#include "cpu/optim_impl.h"
#include "cpu/isa.h"

namespace fg::cpu {
namespace {

const Isa kIsa = cpu_isa();

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
  return isa_name(kIsa);
#else  // see Note [sqrt without errno] in cpu/optim_impl.h
  return kIsa == Isa::kV4   ? "x86-64-v4 (sqrt not vectorised: no -fno-math-errno)"
         : kIsa == Isa::kV3 ? "x86-64-v3 (sqrt not vectorised: no -fno-math-errno)"
                            : "baseline (sqrt not vectorised: no -fno-math-errno)";
#endif
}

}  // namespace fg::cpu
