// Fused optimizer steps and gradient-clipping passes over a whole parameter group.
//
// Note [Optimizer pointer table]
// One call updates every parameter of a group. We chose a pointer table over a flat arena:
// the caller passes, per tensor i, the data pointers of its param, grad and state arrays
// plus its element count sizes[i]. Parameters keep their own storage (a Tensor's array can
// be replaced, resized or loaded without re-packing anything), gradients produced by
// backward need no copy into an arena, and the same table shape works for a CUDA launch
// (arrays of device pointers). The kernel treats the group as one flattened range of
// sum(sizes) elements and splits THAT range evenly across threads, so one 10M-element tensor
// is shared by all threads and a list of small tensors is not one-tensor-per-thread.
//
// Contract shared by every function here:
// - all arrays are C-contiguous with sizes[i] elements of type T (float or double);
// - for one tensor i the arrays (param, grad, each state) must not alias one another; arrays
//   of different tensors must not overlap either (threads write them concurrently);
// - count == 0 or sizes[i] == 0 is fine (nothing happens);
// - each element is read once and written once (the bandwidth floor);
// - per-tensor scalars (Adam's / Adagrad's step) come as arrays of `count` doubles, because
//   PyTorch keeps a step per parameter and a parameter whose grad was None skipped a step;
// - state arrays that an option does not use (max_exp_avg_sqs without amsgrad, grad_avgs
//   without centered, momentum_buffers without momentum) may be null.
// The formulas are the FG_HD functions of csrc/math/optim.h.
#pragma once

#include <cstdint>

namespace fg::cpu {

// Below this many elements in a group a step runs on one thread (thread start-up costs
// about as much as streaming 32K floats through the Adam update).
constexpr int64_t kOptimParallelThreshold = int64_t(1) << 15;

template <class T>
struct OptimKernels {
  // first[i] != 0: tensor i's momentum buffer is created on this step (buf <- g).
  void (*sgd_step)(const T* const* grads, T* const* params, T* const* momentum_buffers,
                   const uint8_t* first, const int64_t* sizes, int64_t count, double lr,
                   double momentum, double dampening, double weight_decay, bool nesterov,
                   bool maximize);
  // steps[i]: tensor i's step count after the increment (1 on the first step).
  void (*adam_step)(const T* const* grads, T* const* params, T* const* exp_avgs,
                    T* const* exp_avg_sqs, T* const* max_exp_avg_sqs, const int64_t* sizes,
                    int64_t count, const double* steps, double lr, double beta1, double beta2,
                    double eps, double weight_decay, bool amsgrad, bool decoupled,
                    bool maximize);
  void (*rmsprop_step)(const T* const* grads, T* const* params, T* const* square_avgs,
                       T* const* grad_avgs, T* const* momentum_buffers, const int64_t* sizes,
                       int64_t count, double lr, double alpha, double eps, double weight_decay,
                       double momentum, bool centered, bool maximize);
  void (*adagrad_step)(const T* const* grads, T* const* params, T* const* state_sums,
                       const int64_t* sizes, int64_t count, const double* steps, double lr,
                       double lr_decay, double eps, double weight_decay, bool maximize);
  void (*adadelta_step)(const T* const* grads, T* const* params, T* const* square_avgs,
                        T* const* acc_deltas, const int64_t* sizes, int64_t count, double lr,
                        double rho, double eps, double weight_decay, bool maximize);
  // Total norm over all tensors (p-norm, p = inf for the max |g|), one pass, accumulated in
  // double. NaN anywhere gives NaN.
  double (*grad_norm)(const T* const* grads, const int64_t* sizes, int64_t count,
                      double norm_type);
  // a <- a * factor, for every element of every tensor.
  void (*scale_)(T* const* arrays, const int64_t* sizes, int64_t count, double factor);
  // a <- clamp(a, lo, hi), for every element of every tensor.
  void (*clamp_)(T* const* arrays, const int64_t* sizes, int64_t count, double lo, double hi);
  // STREAM triad a <- b + s * c over n elements (a must not alias b or c), threaded like the
  // steps: the machine-bandwidth reference that bench/bench_optim.py reports against.
  void (*stream_triad)(const T* b, const T* c, T* a, int64_t n, double s);
};

// The kernels for this CPU: the x86-64-v4 (AVX-512) or v3 (AVX2+FMA) build when the CPU has
// it, else the baseline build (chosen once, with __builtin_cpu_supports).
template <class T>
const OptimKernels<T>& optim_kernels();

// Name of the instruction set optim_kernels() picked: "x86-64-v4", "x86-64-v3" or "baseline"
// (with a remark when the build lacks -fno-math-errno; see Note [sqrt without errno]).
const char* optim_isa();

// Per-ISA tables (defined in optim.cpp, optim_v3.cpp, optim_v4.cpp via cpu/optim_impl.h).
OptimKernels<float> optim_kernels_baseline_f32();
OptimKernels<double> optim_kernels_baseline_f64();
OptimKernels<float> optim_kernels_v3_f32();
OptimKernels<double> optim_kernels_v3_f64();
OptimKernels<float> optim_kernels_v4_f32();
OptimKernels<double> optim_kernels_v4_f64();

}  // namespace fg::cpu
