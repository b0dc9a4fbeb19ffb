// Fused optimizer steps and gradient-clipping passes for a whole parameter group, one launch
// each (see Note [Optimizer pointer table] in csrc/cpu/optim.h: the CUDA table is the same idea
// with device pointers). Per-element math: csrc/math/optim.h.
//
// Note [CUDA optimizer table]
// `table` is a device array of 64-bit words written by backend/cuda.py:
//   table[k*count + i]  the data pointer of list k for tensor i (k = 0 params, 1 grads, then the
//                       state lists in the order of the kernel's name list below; a list an
//                       option does not use holds zeros),
//   table[L*count + i]  offsets: the flattened group's prefix sums (count + 1 words, offsets[0]
//                       = 0), L = number of lists.
// `hyper` is a device array of doubles: hyper[0] = lr, hyper[1 + i] = tensor i's step (Adam,
// Adagrad: after the increment) or its "first step" flag (SGD: 1 creates the momentum buffer).
// Everything that changes from step to step is in `hyper`, read by the kernel from device
// memory, so a captured CUDA graph replays with new values after Python rewrites that buffer
// (fg.cuda.graphs); the other scalars are kernel arguments.
// Launch: 1-D, kBlock threads, grid = min(ceil(total / kBlock), kMaxGrid). The group is one
// flattened range of offsets[count] elements: each thread finds its tensor by binary search
// and recomputes the per-tensor parameters only when it crosses into another tensor.
// Contract: arrays C-contiguous, no aliasing between or within tensors (as on CPU).
#include "cuda/common.cuh"
#include "math/optim.h"

namespace fg {
namespace cuda {

// The tensor t with offsets[t] <= i < offsets[t + 1] (empty tensors are never returned).
__device__ __forceinline__ int find_tensor(const long long* offsets, int count, long long i) {
  int lo = 0, hi = count - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) >> 1;
    if (offsets[mid] <= i)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

template <class T>
__device__ __forceinline__ T* list_ptr(const unsigned long long* table, int count, int k, int t) {
  return reinterpret_cast<T*>(table[k * count + t]);
}

// Calls body(t, j) for every element j of every tensor t of the group (grid-stride over the
// flattened range). `lists` is the number of pointer lists before the offsets in `table`.
template <class Body>
__device__ __forceinline__ void for_each_element(const unsigned long long* table, int count,
                                                 int lists, Body&& body) {
  if (count <= 0) return;
  const long long* offsets = reinterpret_cast<const long long*>(table + lists * count);
  const long long total = offsets[count];
  int t = -1;
  FG_GRID_STRIDE_LOOP(i, total) {
    if (t < 0 || i >= offsets[t + 1]) t = find_tensor(offsets, count, i);
    body(t, i - offsets[t]);
  }
}

// ---- steps -------------------------------------------------------------------------------
// lists: params, grads, momentum_buffers.
template <class T>
__device__ __forceinline__ void sgd_step(const unsigned long long* table, int count,
                                         const double* hyper, double momentum, double dampening,
                                         double weight_decay, int nesterov, int maximize) {
  const auto hp = fg::math::make_sgd_params<T>(hyper[0], momentum, dampening, weight_decay,
                                               nesterov != 0, maximize != 0);
  const bool has_momentum = momentum != 0.0;
  for_each_element(table, count, 3, [&](int t, long long j) {
    T* p = list_ptr<T>(table, count, 0, t);
    const T* g = list_ptr<T>(table, count, 1, t);
    if (has_momentum) {
      T* buf = list_ptr<T>(table, count, 2, t);
      fg::math::sgd_update(p[j], g[j], buf[j], hyper[1 + t] != 0.0, hp);
    } else {
      T unused = T(0);
      auto h = hp;
      h.momentum = T(0);
      fg::math::sgd_update(p[j], g[j], unused, false, h);
    }
  });
}

// lists: params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs.
template <class T>
__device__ __forceinline__ void adam_step(const unsigned long long* table, int count,
                                          const double* hyper, double beta1, double beta2,
                                          double eps, double weight_decay, int amsgrad,
                                          int decoupled, int maximize) {
  int cur = -1;
  fg::math::AdamParams<T> hp;
  for_each_element(table, count, 5, [&](int t, long long j) {
    if (t != cur) {  // bias corrections depend on this tensor's step
      hp = fg::math::make_adam_params<T>(hyper[1 + t], hyper[0], beta1, beta2, eps,
                                         weight_decay, amsgrad != 0, decoupled != 0,
                                         maximize != 0);
      cur = t;
    }
    T* p = list_ptr<T>(table, count, 0, t);
    const T* g = list_ptr<T>(table, count, 1, t);
    T* m = list_ptr<T>(table, count, 2, t);
    T* v = list_ptr<T>(table, count, 3, t);
    if (amsgrad) {
      T* vmax = list_ptr<T>(table, count, 4, t);
      fg::math::adam_update(p[j], g[j], m[j], v[j], vmax[j], hp);
    } else {
      T unused = T(0);
      fg::math::adam_update(p[j], g[j], m[j], v[j], unused, hp);
    }
  });
}

// lists: params, grads, square_avgs, grad_avgs, momentum_buffers.
template <class T>
__device__ __forceinline__ void rmsprop_step(const unsigned long long* table, int count,
                                             const double* hyper, double alpha, double eps,
                                             double weight_decay, double momentum, int centered,
                                             int maximize) {
  const auto hp = fg::math::make_rmsprop_params<T>(hyper[0], alpha, eps, weight_decay, momentum,
                                                   centered != 0, maximize != 0);
  for_each_element(table, count, 5, [&](int t, long long j) {
    T* p = list_ptr<T>(table, count, 0, t);
    const T* g = list_ptr<T>(table, count, 1, t);
    T* sq = list_ptr<T>(table, count, 2, t);
    T* ga = list_ptr<T>(table, count, 3, t);
    T* buf = list_ptr<T>(table, count, 4, t);
    T ga_unused = T(0), buf_unused = T(0);
    fg::math::rmsprop_update(p[j], g[j], sq[j], centered ? ga[j] : ga_unused,
                             momentum > 0.0 ? buf[j] : buf_unused, hp);
  });
}

// lists: params, grads, state_sums.
template <class T>
__device__ __forceinline__ void adagrad_step(const unsigned long long* table, int count,
                                             const double* hyper, double lr_decay, double eps,
                                             double weight_decay, int maximize) {
  int cur = -1;
  fg::math::AdagradParams<T> hp;
  for_each_element(table, count, 3, [&](int t, long long j) {
    if (t != cur) {
      hp = fg::math::make_adagrad_params<T>(hyper[1 + t], hyper[0], lr_decay, eps, weight_decay,
                                            maximize != 0);
      cur = t;
    }
    T* p = list_ptr<T>(table, count, 0, t);
    const T* g = list_ptr<T>(table, count, 1, t);
    T* s = list_ptr<T>(table, count, 2, t);
    fg::math::adagrad_update(p[j], g[j], s[j], hp);
  });
}

// lists: params, grads, square_avgs, acc_deltas.
template <class T>
__device__ __forceinline__ void adadelta_step(const unsigned long long* table, int count,
                                              const double* hyper, double rho, double eps,
                                              double weight_decay, int maximize) {
  const auto hp =
      fg::math::make_adadelta_params<T>(hyper[0], rho, eps, weight_decay, maximize != 0);
  for_each_element(table, count, 4, [&](int t, long long j) {
    T* p = list_ptr<T>(table, count, 0, t);
    const T* g = list_ptr<T>(table, count, 1, t);
    T* sq = list_ptr<T>(table, count, 2, t);
    T* acc = list_ptr<T>(table, count, 3, t);
    fg::math::adadelta_update(p[j], g[j], sq[j], acc[j], hp);
  });
}

// ---- clipping ----------------------------------------------------------------------------
// grad_norm_partial: one double per block (Σ norm_term, or max |g| when is_inf) into
// partials[blockIdx.x]; grad_norm_finish (one block of kRowBlock threads) folds them into
// out[0] = the total norm, finished exactly like the CPU (sqrt for p = 2, pow(., 1/p)).
// lists: grads.
template <class T>
__device__ __forceinline__ void grad_norm_partial(const unsigned long long* table, int count,
                                                  double norm_type, int is_inf,
                                                  double* partials) {
  __shared__ double scratch[33];
  double acc = 0.0;
  for_each_element(table, count, 1, [&](int t, long long j) {
    const T* g = list_ptr<T>(table, count, 0, t);
    if (is_inf)
      acc = math::MaxReduce::combine(acc, fg::math::hd_abs(double(g[j])));
    else
      acc += fg::math::norm_term(g[j], norm_type);
  });
  acc = is_inf ? block_reduce<math::MaxReduce>(acc, 0.0, scratch)
               : block_reduce<math::SumReduce>(acc, 0.0, scratch);
  if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

__device__ __forceinline__ void grad_norm_finish(const double* partials, int n, double norm_type,
                                                 int is_inf, double* out) {
  __shared__ double scratch[33];
  double acc = 0.0;
  for (int k = threadIdx.x; k < n; k += blockDim.x)
    acc = is_inf ? math::MaxReduce::combine(acc, partials[k]) : acc + partials[k];
  acc = is_inf ? block_reduce<math::MaxReduce>(acc, 0.0, scratch)
               : block_reduce<math::SumReduce>(acc, 0.0, scratch);
  if (threadIdx.x == 0) {
    if (is_inf || norm_type == 1.0)
      out[0] = acc;
    else if (norm_type == 2.0)
      out[0] = fg::math::hd_sqrt(acc);
    else
      out[0] = fg::math::hd_pow(acc, 1.0 / norm_type);
  }
}

// lists: arrays.  a <- a * factor[0]  /  a <- clamp_value(a, lo, hi). The factor is read
// from device memory (clip_grad_norm_ computes it on the device: no host round trip).
template <class T>
__device__ __forceinline__ void scale_inplace(const unsigned long long* table, int count,
                                              const double* factor) {
  const T f = T(factor[0]);
  for_each_element(table, count, 1, [&](int t, long long j) {
    T* a = list_ptr<T>(table, count, 0, t);
    a[j] = a[j] * f;
  });
}

template <class T>
__device__ __forceinline__ void clamp_inplace(const unsigned long long* table, int count,
                                              double lo, double hi) {
  const T lo_t = T(lo), hi_t = T(hi);
  for_each_element(table, count, 1, [&](int t, long long j) {
    T* a = list_ptr<T>(table, count, 0, t);
    a[j] = fg::math::clamp_value(a[j], lo_t, hi_t);
  });
}

}  // namespace cuda
}  // namespace fg

#define FG_CUDA_OPTIM_KERNELS_T(T, sfx)                                                          \
  extern "C" __global__ void sgd_step_##sfx(const unsigned long long* table, int count,        \
                                            const double* hyper, double momentum,              \
                                            double dampening, double weight_decay,             \
                                            int nesterov, int maximize) {                      \
    fg::cuda::sgd_step<T>(table, count, hyper, momentum, dampening, weight_decay, nesterov,    \
                          maximize);                                                           \
  }                                                                                              \
  extern "C" __global__ void adam_step_##sfx(const unsigned long long* table, int count,       \
                                             const double* hyper, double beta1, double beta2,  \
                                             double eps, double weight_decay, int amsgrad,     \
                                             int decoupled, int maximize) {                    \
    fg::cuda::adam_step<T>(table, count, hyper, beta1, beta2, eps, weight_decay, amsgrad,      \
                           decoupled, maximize);                                               \
  }                                                                                              \
  extern "C" __global__ void rmsprop_step_##sfx(const unsigned long long* table, int count,    \
                                                const double* hyper, double alpha, double eps, \
                                                double weight_decay, double momentum,          \
                                                int centered, int maximize) {                  \
    fg::cuda::rmsprop_step<T>(table, count, hyper, alpha, eps, weight_decay, momentum,         \
                              centered, maximize);                                             \
  }                                                                                              \
  extern "C" __global__ void adagrad_step_##sfx(const unsigned long long* table, int count,    \
                                                const double* hyper, double lr_decay,          \
                                                double eps, double weight_decay,               \
                                                int maximize) {                                \
    fg::cuda::adagrad_step<T>(table, count, hyper, lr_decay, eps, weight_decay, maximize);     \
  }                                                                                              \
  extern "C" __global__ void adadelta_step_##sfx(const unsigned long long* table, int count,   \
                                                 const double* hyper, double rho, double eps,  \
                                                 double weight_decay, int maximize) {          \
    fg::cuda::adadelta_step<T>(table, count, hyper, rho, eps, weight_decay, maximize);         \
  }                                                                                              \
  extern "C" __global__ void grad_norm_partial_##sfx(const unsigned long long* table,          \
                                                     int count, double norm_type, int is_inf,  \
                                                     double* partials) {                       \
    fg::cuda::grad_norm_partial<T>(table, count, norm_type, is_inf, partials);                 \
  }                                                                                              \
  extern "C" __global__ void scale_step_##sfx(const unsigned long long* table, int count,      \
                                              const double* factor) {                          \
    fg::cuda::scale_inplace<T>(table, count, factor);                                          \
  }                                                                                              \
  extern "C" __global__ void clamp_step_##sfx(const unsigned long long* table, int count,      \
                                              double lo, double hi) {                          \
    fg::cuda::clamp_inplace<T>(table, count, lo, hi);                                          \
  }

FG_CUDA_F32(FG_CUDA_OPTIM_KERNELS_T(float, f32))
FG_CUDA_F64(FG_CUDA_OPTIM_KERNELS_T(double, f64))

extern "C" __global__ void grad_norm_finish_f64(const double* partials, int n, double norm_type,
                                                int is_inf, double* out) {
  fg::cuda::grad_norm_finish(partials, n, norm_type, is_inf, out);
}
