// Elementwise loops (contracts in cpu/elementwise.h), compiled once per instruction set:
// elementwise.cpp (baseline x86-64), elementwise_v3.cpp (x86-64-v3, AVX2+FMA) and
// elementwise_v4.cpp (x86-64-v4, AVX-512) each define FG_EW_ISA (a namespace name) and
// include this file first; elementwise.cpp picks one at run time. The loops are plain C++ the
// compiler vectorises for the target: the transcendental ops (exp, sigmoid, tanh, log) are
// compute-bound, and 16-lane AVX-512 code runs them 3-4x faster than 4-lane SSE2.
//
// Every kernel is: build a collapsed N-d layout, split the C-contiguous output range over
// threads, and walk each range as "runs" along the innermost dim. A run gets a plain
// pointer loop when its strides are 1 (or 0 for a broadcast scalar), which gcc vectorises;
// anything else takes a strided scalar loop. A same-shape contiguous call therefore is one
// run per thread: the flat fast path falls out of the collapse, no separate code.
//
// Note [no-trapping-math]
// With GCC's default -ftrapping-math, a select like `x >= 0 ? r : e * r` keeps e * r in a
// branch (it "might trap"), and the loop is not vectorised ("control flow in loop"): 392 of
// the loops here vectorised, 511 without it, among them sigmoid, tanh, exp (hd_vexp),
// leaky_relu and maximum's backward. Nothing here reads floating-point exception flags (or
// errno), so every file including this one is compiled without trapping math and errno
// setting. Clang already defaults to that. This file must be included before anything else.
#if !defined(FG_EW_ISA)
#error "define FG_EW_ISA (isa_baseline, isa_v3, isa_v4) before including cpu/elementwise_impl.h"
#endif
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math", "no-math-errno")
#endif
#include <algorithm>
#include <type_traits>

#include "cpu/elementwise.h"
#include "cpu/parallel.h"
#include "math/binary.h"
#include "math/unary.h"

namespace fg::cpu::FG_EW_ISA {
namespace {

// An index space of `size` elements and the element strides of N inputs over it, with size-1
// dims dropped and mergeable neighbours merged. The (C-contiguous) output needs no strides:
// its offset is the linear index.
template <int N>
struct Layout {
  int ndim = 0;
  int64_t size = 1;
  int64_t shape[kMaxDims];
  int64_t st[N][kMaxDims];
};

template <int N>
void make_layout(Layout<N>& L, int ndim, const int64_t* shape, const int64_t* const* strides) {
  L.ndim = 0;
  L.size = 1;
  for (int d = 0; d < ndim; ++d) L.size *= shape[d];
  for (int d = 0; d < ndim; ++d) {
    if (shape[d] == 1) continue;
    const int last = L.ndim - 1;
    bool merge = last >= 0;
    for (int k = 0; k < N && merge; ++k) merge = L.st[k][last] == strides[k][d] * shape[d];
    if (merge) {
      L.shape[last] *= shape[d];
      for (int k = 0; k < N; ++k) L.st[k][last] = strides[k][d];
    } else {
      L.shape[L.ndim] = shape[d];
      for (int k = 0; k < N; ++k) L.st[k][L.ndim] = strides[k][d];
      ++L.ndim;
    }
  }
  if (L.ndim == 0) {  // a single element
    L.ndim = 1;
    L.shape[0] = 1;
    for (int k = 0; k < N; ++k) L.st[k][0] = 0;
  }
}

// Calls f(off, o, n) for consecutive runs covering output indices [lo, hi): off[k] is input
// k's element offset at output index o, and the run continues n elements along the
// innermost dim (input k advancing by L.st[k][ndim-1] per element).
template <int N, class F>
void for_each_run(const Layout<N>& L, int64_t lo, int64_t hi, F&& f) {
  const int last = L.ndim - 1;
  int64_t idx[kMaxDims];
  int64_t off[N];
  for (int k = 0; k < N; ++k) off[k] = 0;
  int64_t rem = lo;
  for (int d = last; d >= 0; --d) {
    idx[d] = rem % L.shape[d];
    rem /= L.shape[d];
    for (int k = 0; k < N; ++k) off[k] += idx[d] * L.st[k][d];
  }
  while (lo < hi) {
    const int64_t n = std::min(L.shape[last] - idx[last], hi - lo);
    f(static_cast<const int64_t*>(off), lo, n);
    lo += n;
    if (lo >= hi) break;
    // The run ended at the end of the innermost dim: step to the next row, carrying.
    for (int k = 0; k < N; ++k) off[k] += n * L.st[k][last];
    idx[last] += n;
    int d = last;
    while (d > 0 && idx[d] == L.shape[d]) {
      for (int k = 0; k < N; ++k) off[k] -= L.shape[d] * L.st[k][d];
      idx[d] = 0;
      --d;
      ++idx[d];
      for (int k = 0; k < N; ++k) off[k] += L.st[k][d];
    }
  }
}

// Splits the layout's output range over threads and walks each piece run by run.
template <int N, class F>
void run_layout(const Layout<N>& L, F&& f) {
  if (L.size == 0) return;
  parallel_for(L.size, 1, [&](int64_t lo, int64_t hi) { for_each_run(L, lo, hi, f); });
}

// Ops whose unit-stride loops start with math::hd_vpow_run (Note [AVX-512 float pow]; it does
// nothing where it has no kernel): Pow and PowScalarAs<kGeneral> set kVpowRun.
template <class Op, class = void>
struct HasVpowRun : std::false_type {};
template <class Op>
struct HasVpowRun<Op, std::void_t<decltype(Op::kVpowRun)>> : std::bool_constant<Op::kVpowRun> {};

// ---- binary backward inner loops --------------------------------------------------------
// KA / KB: 1 = unit stride, 0 = broadcast scalar. y and gy have unit stride here.
template <class Op, class T, int KA, int KB>
void binary_backward_run(const T* __restrict a, const T* __restrict b, const T* __restrict y,
                         const T* __restrict gy, T* __restrict ga, T* __restrict gb, int64_t n) {
  const T a0 = a[0];
  const T b0 = b[0];
  if (ga && gb) {
    for (int64_t i = 0; i < n; ++i) {
      const T av = KA ? a[i] : a0;
      const T bv = KB ? b[i] : b0;
      ga[i] = Op::backward_a(av, bv, y[i], gy[i]);
      gb[i] = Op::backward_b(av, bv, y[i], gy[i]);
    }
  } else if (ga) {
    for (int64_t i = 0; i < n; ++i)
      ga[i] = Op::backward_a(KA ? a[i] : a0, KB ? b[i] : b0, y[i], gy[i]);
  } else {
    for (int64_t i = 0; i < n; ++i)
      gb[i] = Op::backward_b(KA ? a[i] : a0, KB ? b[i] : b0, y[i], gy[i]);
  }
}

template <class Op, class T>
void unary_forward_loops(const T* x, T* y, int ndim, const int64_t* shape,
                         const int64_t* x_strides, T a, T b) {
  Layout<1> L;
  const int64_t* st[1] = {x_strides};
  make_layout(L, ndim, shape, st);
  const int64_t sx = L.st[0][L.ndim - 1];
  run_layout(L, [&](const int64_t* off, int64_t o, int64_t n) {
    const T* __restrict xp = x + off[0];
    T* __restrict yp = y + o;
    if (sx == 1) {
      int64_t i = 0;
      if constexpr (HasVpowRun<Op>::value) i = math::hd_vpow_run(xp, &a, 0, yp, n);
      for (; i < n; ++i) yp[i] = Op::forward(xp[i], a, b);
    } else {
      for (int64_t i = 0; i < n; ++i) yp[i] = Op::forward(xp[i * sx], a, b);
    }
  });
}

template <class Op, class T>
void unary_backward_loops(const T* x, const T* y, const T* gy, T* gx, int ndim,
                          const int64_t* shape, const int64_t* x_strides,
                          const int64_t* y_strides, const int64_t* gy_strides, T a, T b) {
  Layout<3> L;
  const int64_t* st[3] = {x_strides, y_strides, gy_strides};
  make_layout(L, ndim, shape, st);
  const int last = L.ndim - 1;
  const int64_t sx = L.st[0][last], sy = L.st[1][last], sg = L.st[2][last];
  run_layout(L, [&](const int64_t* off, int64_t o, int64_t n) {
    const T* __restrict xp = x + off[0];
    const T* __restrict yp = y + off[1];
    const T* __restrict gp = gy + off[2];
    T* __restrict out = gx + o;
    if (sx == 1 && sy == 1 && sg == 1) {
      for (int64_t i = 0; i < n; ++i) out[i] = Op::backward(xp[i], yp[i], gp[i], a, b);
    } else {
      for (int64_t i = 0; i < n; ++i)
        out[i] = Op::backward(xp[i * sx], yp[i * sy], gp[i * sg], a, b);
    }
  });
}

// Note [pow_scalar fast paths]
// PowScalar's exponent is one scalar per call, so the loops are instantiated once per
// PowScalar::Kind and the kind of a (forward) or a - 1 (backward) picks one: x^2 runs as x*x,
// x^0.5 as sqrt, ... and any other exponent as the vectorised hd_vpow.
template <int K>
struct PowScalarAs {
  static constexpr bool kVpowRun = K == math::PowScalar::kGeneral;
  template <class T>
  static FG_HDI T forward(T x, T a, T /*b*/) {
    return math::PowScalar::apply<K>(x, a);
  }
  template <class T>
  static FG_HDI T backward(T x, T /*y*/, T gy, T a, T /*b*/) {
    return math::PowScalar::backward_kind<K>(x, gy, a);
  }
};

// Calls f(PowScalarAs<K>{}) for K = kind.
template <class F>
void with_pow_kind(int kind, F&& f) {
  using P = math::PowScalar;
  switch (kind) {
    case P::kZero: return f(PowScalarAs<P::kZero>{});
    case P::kOne: return f(PowScalarAs<P::kOne>{});
    case P::kTwo: return f(PowScalarAs<P::kTwo>{});
    case P::kThree: return f(PowScalarAs<P::kThree>{});
    case P::kHalf: return f(PowScalarAs<P::kHalf>{});
    case P::kMinusOne: return f(PowScalarAs<P::kMinusOne>{});
    default: return f(PowScalarAs<P::kGeneral>{});
  }
}

}  // namespace

template <class Op, class T>
void unary_forward(const T* x, T* y, int ndim, const int64_t* shape, const int64_t* x_strides,
                   T a, T b) {
  if constexpr (std::is_same_v<Op, math::PowScalar>) {
    with_pow_kind(math::PowScalar::kind(a), [&](auto op) {
      unary_forward_loops<decltype(op)>(x, y, ndim, shape, x_strides, a, b);
    });
  } else {
    unary_forward_loops<Op>(x, y, ndim, shape, x_strides, a, b);
  }
}

template <class Op, class T>
void unary_backward(const T* x, const T* y, const T* gy, T* gx, int ndim, const int64_t* shape,
                    const int64_t* x_strides, const int64_t* y_strides, const int64_t* gy_strides,
                    T a, T b) {
  if constexpr (std::is_same_v<Op, math::PowScalar>) {
    with_pow_kind(math::PowScalar::kind(T(a - T(1))), [&](auto op) {
      unary_backward_loops<decltype(op)>(x, y, gy, gx, ndim, shape, x_strides, y_strides,
                                         gy_strides, a, b);
    });
  } else {
    unary_backward_loops<Op>(x, y, gy, gx, ndim, shape, x_strides, y_strides, gy_strides, a, b);
  }
}

template <class Op, class T>
void binary_forward(const T* a, const T* b, T* y, int ndim, const int64_t* shape,
                    const int64_t* a_strides, const int64_t* b_strides) {
  Layout<2> L;
  const int64_t* st[2] = {a_strides, b_strides};
  make_layout(L, ndim, shape, st);
  const int64_t sa = L.st[0][L.ndim - 1], sb = L.st[1][L.ndim - 1];
  run_layout(L, [&](const int64_t* off, int64_t o, int64_t n) {
    const T* __restrict ap = a + off[0];
    const T* __restrict bp = b + off[1];
    T* __restrict yp = y + o;
    if (sa == 1 && sb == 1) {
      int64_t i = 0;
      if constexpr (HasVpowRun<Op>::value) i = math::hd_vpow_run(ap, bp, 1, yp, n);
      for (; i < n; ++i) yp[i] = Op::forward(ap[i], bp[i]);
    } else if (sa == 1 && sb == 0) {
      const T bv = bp[0];
      int64_t i = 0;
      if constexpr (HasVpowRun<Op>::value) i = math::hd_vpow_run(ap, bp, 0, yp, n);
      for (; i < n; ++i) yp[i] = Op::forward(ap[i], bv);
    } else if (sa == 0 && sb == 1) {
      const T av = ap[0];
      for (int64_t i = 0; i < n; ++i) yp[i] = Op::forward(av, bp[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) yp[i] = Op::forward(ap[i * sa], bp[i * sb]);
    }
  });
}

template <class Op, class T>
void binary_backward(const T* a, const T* b, const T* y, const T* gy, T* ga, T* gb, int ndim,
                     const int64_t* shape, const int64_t* a_strides, const int64_t* b_strides,
                     const int64_t* y_strides, const int64_t* gy_strides) {
  if (!ga && !gb) return;
  Layout<4> L;
  const int64_t* st[4] = {a_strides, b_strides, y_strides, gy_strides};
  make_layout(L, ndim, shape, st);
  const int last = L.ndim - 1;
  const int64_t sa = L.st[0][last], sb = L.st[1][last], sy = L.st[2][last], sg = L.st[3][last];
  const bool fast = sg == 1 && (sy == 1 || !Op::kUsesY) && (sa == 0 || sa == 1) &&
                    (sb == 0 || sb == 1);
  run_layout(L, [&](const int64_t* off, int64_t o, int64_t n) {
    const T* ap = a + off[0];
    const T* bp = b + off[1];
    // y unused: any in-bounds pointer with unit stride will do (gy's run is one).
    const T* yp = Op::kUsesY ? y + off[2] : gy + off[3];
    const T* gp = gy + off[3];
    T* gap = ga ? ga + o : nullptr;
    T* gbp = gb ? gb + o : nullptr;
    if (fast) {
      if (sa == 1 && sb == 1)
        binary_backward_run<Op, T, 1, 1>(ap, bp, yp, gp, gap, gbp, n);
      else if (sa == 1)
        binary_backward_run<Op, T, 1, 0>(ap, bp, yp, gp, gap, gbp, n);
      else if (sb == 1)
        binary_backward_run<Op, T, 0, 1>(ap, bp, yp, gp, gap, gbp, n);
      else
        binary_backward_run<Op, T, 0, 0>(ap, bp, yp, gp, gap, gbp, n);
      return;
    }
    const int64_t syy = Op::kUsesY ? sy : sg;
    for (int64_t i = 0; i < n; ++i) {
      const T av = ap[i * sa], bv = bp[i * sb], yv = yp[i * syy], gv = gp[i * sg];
      if (gap) gap[i] = Op::backward_a(av, bv, yv, gv);
      if (gbp) gbp[i] = Op::backward_b(av, bv, yv, gv);
    }
  });
}

template <class Op, class T>
void compare(const T* a, const T* b, bool* out, int ndim, const int64_t* shape,
             const int64_t* a_strides, const int64_t* b_strides) {
  Layout<2> L;
  const int64_t* st[2] = {a_strides, b_strides};
  make_layout(L, ndim, shape, st);
  const int64_t sa = L.st[0][L.ndim - 1], sb = L.st[1][L.ndim - 1];
  run_layout(L, [&](const int64_t* off, int64_t o, int64_t n) {
    const T* __restrict ap = a + off[0];
    const T* __restrict bp = b + off[1];
    bool* __restrict op = out + o;
    if (sa == 1 && sb == 1) {
      for (int64_t i = 0; i < n; ++i) op[i] = Op::forward(ap[i], bp[i]);
    } else if (sa == 1 && sb == 0) {
      const T bv = bp[0];
      for (int64_t i = 0; i < n; ++i) op[i] = Op::forward(ap[i], bv);
    } else {
      for (int64_t i = 0; i < n; ++i) op[i] = Op::forward(ap[i * sa], bp[i * sb]);
    }
  });
}

// ---- instantiations from the X-lists ------------------------------------------------------
#include "cpu/elementwise_inst.h"

}  // namespace fg::cpu::FG_EW_ISA
