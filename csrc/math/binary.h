// Per-element binary ops and comparisons, shared by the CPU loops and the CUDA kernels.
//
// Contract of every arithmetic functor (STYLE.md G3):
//   forward(a, b)                 -> y = op(a, b)
//   backward_a(a, b, y, gy)       -> ga = d op / da * gy
//   backward_b(a, b, y, gy)       -> gb = d op / db * gy
//   kUsesY                        -> whether a backward reads y (if not, y may be omitted)
// The loops call both backward functions in one pass over the (broadcast) output, writing
// ga and gb; either may be skipped. Broadcasting and un-broadcasting happen outside.
// Comparisons: forward(a, b) -> bool (NumPy semantics: any comparison with nan is false
// except ne).
#pragma once

#include "math/hd.h"
#include "math/pow.h"

namespace fg {
namespace math {

// y = a + b;  ga = gy, gb = gy.
struct Add {
  static constexpr bool kUsesY = false;
  template <class T>
  static FG_HDI T forward(T a, T b) {
    return a + b;
  }
  template <class T>
  static FG_HDI T backward_a(T /*a*/, T /*b*/, T /*y*/, T gy) {
    return gy;
  }
  template <class T>
  static FG_HDI T backward_b(T /*a*/, T /*b*/, T /*y*/, T gy) {
    return gy;
  }
};

// y = a - b;  ga = gy, gb = -gy.
struct Sub {
  static constexpr bool kUsesY = false;
  template <class T>
  static FG_HDI T forward(T a, T b) {
    return a - b;
  }
  template <class T>
  static FG_HDI T backward_a(T /*a*/, T /*b*/, T /*y*/, T gy) {
    return gy;
  }
  template <class T>
  static FG_HDI T backward_b(T /*a*/, T /*b*/, T /*y*/, T gy) {
    return -gy;
  }
};

// y = a * b;  ga = gy * b, gb = gy * a.
struct Mul {
  static constexpr bool kUsesY = false;
  template <class T>
  static FG_HDI T forward(T a, T b) {
    return a * b;
  }
  template <class T>
  static FG_HDI T backward_a(T /*a*/, T b, T /*y*/, T gy) {
    return gy * b;
  }
  template <class T>
  static FG_HDI T backward_b(T a, T /*b*/, T /*y*/, T gy) {
    return gy * a;
  }
};

// y = a / b;  ga = gy / b, gb = -gy * a / b^2 (PyTorch's div_tensor_other_backward form).
struct Div {
  static constexpr bool kUsesY = false;
  template <class T>
  static FG_HDI T forward(T a, T b) {
    return a / b;
  }
  template <class T>
  static FG_HDI T backward_a(T /*a*/, T b, T /*y*/, T gy) {
    return gy / b;
  }
  template <class T>
  static FG_HDI T backward_b(T a, T b, T /*y*/, T gy) {
    return -gy * a / (b * b);
  }
};

// y = a^b;  ga = b a^(b-1) gy (0 where b = 0),  gb = y ln(a) gy (0 where a = 0 and b >= 0).
// The masks are PyTorch's pow_backward_self / pow_backward_exponent: they keep 0 * inf
// from turning an exact zero gradient into nan. a < 0 gives nan in gb, as PyTorch.
// a^b is hd_vpow and ln a hd_vlog: both vectorise on the CPU (see Note [vectorised pow]).
struct Pow {
  static constexpr bool kUsesY = true;
  static constexpr bool kVpowRun = true;  // CPU forward loops: hd_vpow_run (math/pow.h)
  template <class T>
  static FG_HDI T forward(T a, T b) {
    return hd_vpow(a, b);
  }
  template <class T>
  static FG_HDI T backward_a(T a, T b, T /*y*/, T gy) {
    return b == T(0) ? T(0) : gy * b * hd_vpow(a, b - T(1));
  }
  template <class T>
  static FG_HDI T backward_b(T a, T b, T y, T gy) {
    return (a == T(0) && b >= T(0)) ? T(0) : gy * y * hd_vlog(a);
  }
};

// y = max(a, b), nan if either is nan (torch.maximum / np.maximum).
// Gradient goes to the larger input; at ties it is split evenly (gy / 2 each), as PyTorch.
struct Maximum {
  static constexpr bool kUsesY = false;
  template <class T>
  static FG_HDI T forward(T a, T b) {
    return (a > b || a != a) ? a : b;
  }
  template <class T>
  static FG_HDI T backward_a(T a, T b, T /*y*/, T gy) {
    return a == b ? gy * T(0.5) : (a < b ? T(0) : gy);
  }
  template <class T>
  static FG_HDI T backward_b(T a, T b, T /*y*/, T gy) {
    return a == b ? gy * T(0.5) : (a > b ? T(0) : gy);
  }
};

// y = min(a, b), nan if either is nan; gradient to the smaller input, split evenly at ties.
struct Minimum {
  static constexpr bool kUsesY = false;
  template <class T>
  static FG_HDI T forward(T a, T b) {
    return (a < b || a != a) ? a : b;
  }
  template <class T>
  static FG_HDI T backward_a(T a, T b, T /*y*/, T gy) {
    return a == b ? gy * T(0.5) : (a > b ? T(0) : gy);
  }
  template <class T>
  static FG_HDI T backward_b(T a, T b, T /*y*/, T gy) {
    return a == b ? gy * T(0.5) : (a < b ? T(0) : gy);
  }
};

// Comparisons: non-differentiable, boolean output.
struct Eq {
  template <class T>
  static FG_HDI bool forward(T a, T b) {
    return a == b;
  }
};
struct Ne {
  template <class T>
  static FG_HDI bool forward(T a, T b) {
    return a != b;
  }
};
struct Lt {
  template <class T>
  static FG_HDI bool forward(T a, T b) {
    return a < b;
  }
};
struct Le {
  template <class T>
  static FG_HDI bool forward(T a, T b) {
    return a <= b;
  }
};
struct Gt {
  template <class T>
  static FG_HDI bool forward(T a, T b) {
    return a > b;
  }
};
struct Ge {
  template <class T>
  static FG_HDI bool forward(T a, T b) {
    return a >= b;
  }
};

}  // namespace math
}  // namespace fg

// X(name, Functor): loops, CUDA kernels and bindings (_C.<name>_forward, _C.<name>_backward)
// are generated from this list.
#define FG_BINARY_OPS(X) \
  X(add, Add)            \
  X(sub, Sub)            \
  X(mul, Mul)            \
  X(div, Div)            \
  X(pow, Pow)            \
  X(maximum, Maximum)    \
  X(minimum, Minimum)

// X(name, Functor): comparisons, bound as _C.<name> (e.g. _C.lt(a, b, out)).
#define FG_COMPARE_OPS(X) \
  X(eq, Eq)               \
  X(ne, Ne)               \
  X(lt, Lt)               \
  X(le, Le)               \
  X(gt, Gt)               \
  X(ge, Ge)
