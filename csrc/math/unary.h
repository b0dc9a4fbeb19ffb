// Per-element unary ops: one functor per op, shared by the CPU loops and the CUDA kernels.
//
// Contract of every functor (STYLE.md G3):
//   forward(x, a, b)          -> y = op(x); a, b are the op's scalar parameters (0 if unused)
//   backward(x, y, gy, a, b)  -> gx = op'(x) * gy, from the saved input x, the saved output y
//                                and the incoming gradient gy (an op ignores what it does not need)
// Everything is FG_HD, templated on T (float or double), no std::, math through hd_* only.
// Kink conventions follow PyTorch (API.md): relu'(0) = 0, abs'(0) = 0, leaky_relu'(0) = slope,
// clamp passes the gradient on the closed interval [min, max].
#pragma once

#include "math/hd.h"
#include "math/pow.h"

namespace fg {
namespace math {

// y = -x;  dy/dx = -1.
struct Neg {
  template <class T>
  static FG_HDI T forward(T x, T /*a*/, T /*b*/) {
    return -x;
  }
  template <class T>
  static FG_HDI T backward(T /*x*/, T /*y*/, T gy, T /*a*/, T /*b*/) {
    return -gy;
  }
};

// y = e^x;  dy/dx = e^x = y (reuses the saved output, no second exp).
struct Exp {
  template <class T>
  static FG_HDI T forward(T x, T /*a*/, T /*b*/) {
    return hd_vexp(x);
  }
  template <class T>
  static FG_HDI T backward(T /*x*/, T y, T gy, T /*a*/, T /*b*/) {
    return gy * y;
  }
};

// y = ln x;  dy/dx = 1/x (x = 0 gives +-inf, x < 0 gives nan in forward, as PyTorch).
struct Log {
  template <class T>
  static FG_HDI T forward(T x, T /*a*/, T /*b*/) {
    return hd_vlog(x);
  }
  template <class T>
  static FG_HDI T backward(T x, T /*y*/, T gy, T /*a*/, T /*b*/) {
    return gy / x;
  }
};

// y = sqrt(x);  dy/dx = 1 / (2 sqrt(x)) = 1 / (2y)  (inf at x = 0, as PyTorch).
struct Sqrt {
  template <class T>
  static FG_HDI T forward(T x, T /*a*/, T /*b*/) {
    return hd_sqrt(x);
  }
  template <class T>
  static FG_HDI T backward(T /*x*/, T y, T gy, T /*a*/, T /*b*/) {
    return gy / (T(2) * y);
  }
};

// y = |x|;  dy/dx = sign(x), with sign(0) = 0 (PyTorch's sgn).
struct Abs {
  template <class T>
  static FG_HDI T forward(T x, T /*a*/, T /*b*/) {
    return hd_abs(x);
  }
  template <class T>
  static FG_HDI T backward(T x, T /*y*/, T gy, T /*a*/, T /*b*/) {
    return x > T(0) ? gy : (x < T(0) ? -gy : T(0));
  }
};

// y = tanh(x);  dy/dx = 1 - tanh(x)^2 = 1 - y^2.
// Computed as tanh|x| = -m / (2 + m) with m = expm1(-2|x|) in (-1, 0]: no overflow, full
// relative precision near 0 (expm1 has no cancellation), vectorisable on the CPU (hd.h).
struct Tanh {
  template <class T>
  static FG_HDI T forward(T x, T /*a*/, T /*b*/) {
    const T m = hd_vexpm1(T(-2) * hd_abs(x));
    const T t = -m / (T(2) + m);
    return x < T(0) ? -t : t;
  }
  template <class T>
  static FG_HDI T backward(T /*x*/, T y, T gy, T /*a*/, T /*b*/) {
    return gy * (T(1) - y * y);
  }
};

// y = 1 / (1 + e^-x);  dy/dx = y (1 - y).
// NOTE: e^-x overflows for x < -88 (float) and 1/(1+inf) happens to give 0, but the
// symmetric form e^x / (1 + e^x) for x < 0 never forms an infinity and keeps full relative
// precision of tiny outputs (sigmoid(-100) = 3.7e-44 instead of 0 in float64).
struct Sigmoid {
  template <class T>
  static FG_HDI T forward(T x, T /*a*/, T /*b*/) {
    const T e = hd_vexp(-hd_abs(x));  // in (0, 1]: never overflows
    const T r = T(1) / (T(1) + e);
    return x >= T(0) ? r : e * r;
  }
  template <class T>
  static FG_HDI T backward(T /*x*/, T y, T gy, T /*a*/, T /*b*/) {
    return gy * y * (T(1) - y);
  }
};

// y = max(x, 0);  dy/dx = 1 for x > 0, else 0 (relu'(0) = 0, API.md). nan stays nan.
struct Relu {
  template <class T>
  static FG_HDI T forward(T x, T /*a*/, T /*b*/) {
    return x < T(0) ? T(0) : x;
  }
  template <class T>
  static FG_HDI T backward(T x, T /*y*/, T gy, T /*a*/, T /*b*/) {
    return x > T(0) ? gy : T(0);
  }
};

// y = x for x > 0, a*x otherwise (a = negative slope);  dy/dx = 1 for x > 0, else a
// (PyTorch: leaky_relu'(0) = slope).
struct LeakyRelu {
  template <class T>
  static FG_HDI T forward(T x, T a, T /*b*/) {
    return x > T(0) ? x : a * x;
  }
  template <class T>
  static FG_HDI T backward(T x, T /*y*/, T gy, T a, T /*b*/) {
    return x > T(0) ? gy : a * gy;
  }
};

// y = min(max(x, a), b) with a = min, b = max (Python passes -inf / +inf for a missing bound);
// dy/dx = 1 where a <= x <= b (PyTorch: gradient 1 at the boundary values), else 0.
// NOTE: written with compares that are false for nan so nan propagates (torch.clamp does),
// and so that a > b gives b everywhere, as torch.clamp does.
struct Clamp {
  template <class T>
  static FG_HDI T forward(T x, T a, T b) {
    const T lo = x < a ? a : x;
    return lo > b ? b : lo;
  }
  template <class T>
  static FG_HDI T backward(T x, T /*y*/, T gy, T a, T b) {
    return (x >= a && x <= b) ? gy : T(0);
  }
};

// y = x^a (power by a scalar exponent a; tensor ** tensor is Pow in binary.h);
// dy/dx = a x^(a-1), and exactly 0 when a = 0
// (PyTorch's pow_backward masks it so that 0 * x^-1 at x = 0 does not give nan).
// x^a is hd_vpow (math/pow.h: vectorisable on the CPU, NumPy's special cases). The CPU loops
// also look at a once per call and run an exact cheaper form for a few exponents (PyTorch's
// pow fast paths), see PowScalar::kind / PowScalar::apply.
struct PowScalar {
  // Exponents with a cheaper form than e^(a ln x), with the same results (special cases
  // included): x^2 = x*x, x^3 = x*x*x (float: in double, one rounding), x^-1 = 1/x, x^1 = x,
  // x^0 = 1, and x^0.5 = sqrt(x). NOTE: sqrt differs from C99's pow at -0 (-0, not +0) and
  // -inf (nan, not inf); for a scalar exponent 0.5 both PyTorch and NumPy give sqrt's values
  // (NumPy's C99 values appear only with an array exponent: binary Pow does that).
  enum Kind { kGeneral, kZero, kOne, kTwo, kThree, kHalf, kMinusOne };
  template <class T>
  static FG_HDI int kind(T a) {
    return a == T(0) ? kZero
           : a == T(1) ? kOne
           : a == T(2) ? kTwo
           : a == T(3) ? kThree
           : a == T(0.5) ? kHalf
           : a == T(-1) ? kMinusOne
                        : kGeneral;
  }
  // x^a where kind(a) == K (a compile-time constant: the CPU loops are instantiated per K).
  template <int K, class T>
  static FG_HDI T apply(T x, T a) {
    if (K == kZero) return T(1);
    if (K == kOne) return x;
    if (K == kTwo) return x * x;
    if (K == kThree) return cube(x);
    if (K == kHalf) return hd_sqrt(x);
    if (K == kMinusOne) return T(1) / x;
    return hd_vpow(x, a);
  }
  // forward / backward (the CUDA kernels) give the values of the fast paths: only 0.5 differs
  // from hd_vpow (x^a with sqrt's -0 / nan), the other kinds are hd_vpow's values anyway.
  template <class T>
  static FG_HDI T forward(T x, T a, T /*b*/) {
    return a == T(0.5) ? hd_sqrt(x) : hd_vpow(x, a);
  }
  template <class T>
  static FG_HDI T backward(T x, T /*y*/, T gy, T a, T /*b*/) {
    const T am1 = a - T(1);
    return a == T(0) ? T(0) : gy * a * (am1 == T(0.5) ? hd_sqrt(x) : hd_vpow(x, am1));
  }
  // backward with x^(a-1) taken by kind(a - 1) == K.
  template <int K, class T>
  static FG_HDI T backward_kind(T x, T gy, T a) {
    return a == T(0) ? T(0) : gy * a * apply<K>(x, a - T(1));
  }

 private:
  static FG_HDI float cube(float x) {
    const double d = x;
    return static_cast<float>(d * d * d);  // d * d is exact; d^3 carries 53 bits to round
  }
  static FG_HDI double cube(double x) { return x * x * x; }
};

}  // namespace math
}  // namespace fg

// X(name, Functor): CPU loops, CUDA kernels and bindings (_C.<name>_forward,
// _C.<name>_backward) are generated from this list; adding a line makes the op exist.
// pow_scalar is x ** p for a Python-number p; the backend also accepts the name "pow" for it.
#define FG_UNARY_OPS(X)    \
  X(neg, Neg)              \
  X(exp, Exp)              \
  X(log, Log)              \
  X(sqrt, Sqrt)            \
  X(abs, Abs)              \
  X(tanh, Tanh)            \
  X(sigmoid, Sigmoid)      \
  X(relu, Relu)            \
  X(leaky_relu, LeakyRelu) \
  X(clamp, Clamp)          \
  X(pow_scalar, PowScalar)
