// Per-element pieces of the reductions (sum, mean, max, min, var, max/min with index),
// shared by the CPU loops (cpu/reduce.cpp) and the CUDA kernels.
//
// A reduction is: out = finalize(fold(combine, identity, map(x_i)) ). Accumulation happens in
// acc_t<T> (hd.h) inside short blocks and in double across blocks on the CPU, so float32
// sums of millions of terms keep ~1e-7 relative error without slowing the vector loop.
// max / min propagate nan (NumPy, PyTorch). Index variants return the FIRST index of the
// extreme value, or of the first nan.
#pragma once

#include "math/hd.h"

namespace fg {
namespace math {

// +infinity of T without <limits> / HUGE_VAL (NVRTC has neither).
template <class T>
FG_HD T hd_infinity() {
#if defined(__CUDA_ARCH__)
  return static_cast<T>(__longlong_as_double(0x7ff0000000000000LL));
#else
  return static_cast<T>(__builtin_huge_val());
#endif
}

// sum / mean: identity 0, combine +.
struct SumReduce {
  template <class A>
  static FG_HD A identity() {
    return A(0);
  }
  template <class A>
  static FG_HD A combine(A acc, A v) {
    return acc + v;
  }
};

// max: identity -inf, combine keeps the larger value and any nan.
struct MaxReduce {
  template <class A>
  static FG_HD A identity() {
    return -hd_infinity<A>();
  }
  template <class A>
  static FG_HD A combine(A acc, A v) {
    return ((v > acc) | (v != v)) ? v : acc;
  }
};

// min: identity +inf, combine keeps the smaller value and any nan.
struct MinReduce {
  template <class A>
  static FG_HD A identity() {
    return hd_infinity<A>();
  }
  template <class A>
  static FG_HD A combine(A acc, A v) {
    return ((v < acc) | (v != v)) ? v : acc;
  }
};

// Maps applied to each element before combining; `m` is a per-output parameter.
// Identity map (sum, mean, max, min).
struct PlainMap {
  static constexpr bool kUsesParam = false;
  template <class T>
  static FG_HD T apply(T x, T /*m*/) {
    return x;
  }
};

// Squared deviation from the output's mean (second pass of the two-pass variance).
struct SqDevMap {
  static constexpr bool kUsesParam = true;
  template <class T>
  static FG_HD T apply(T x, T m) {
    const T d = x - m;
    return d * d;
  }
};

// Variance from the sum of squared deviations m2 of n values:
//   var = m2 / max(n - correction, 0)
// (torch.var / np.var: n - correction <= 0 gives inf, or nan when m2 = 0, e.g. n = 0).
template <class W>
FG_HD W var_finalize(W m2, W n, W correction) {
  const W dof = n - correction;
  return m2 / (dof > W(0) ? dof : W(0));
}

// Index reductions: does v at a later index replace the current best? First index wins on
// ties; the first nan wins over everything (np.argmax / torch.argmax).
struct ArgMax {
  template <class T>
  static FG_HD bool better(T v, T best) {
    return v > best || (v != v && best == best);
  }
};
struct ArgMin {
  template <class T>
  static FG_HD bool better(T v, T best) {
    return v < best || (v != v && best == best);
  }
};

}  // namespace math
}  // namespace fg

// X(name, Reducer): value reductions bound as _C.reduce_<name>(x, out, nkeep); mean is sum
// with a division in finalize.
#define FG_REDUCE_OPS(X) \
  X(sum, SumReduce)      \
  X(mean, SumReduce)     \
  X(max, MaxReduce)      \
  X(min, MinReduce)

// X(name, Selector): index reductions bound as _C.reduce_<name>_with_index.
#define FG_INDEX_REDUCE_OPS(X) \
  X(max, ArgMax)               \
  X(min, ArgMin)
