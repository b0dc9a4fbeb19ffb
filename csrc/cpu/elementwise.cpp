// Elementwise kernels, baseline x86-64 build (loops in cpu/elementwise_impl.h), plus the
// public entry points of cpu/elementwise.h, which pick the x86-64-v4 / v3 / baseline build
// once at load time (__builtin_cpu_supports), as cpu/norm.cpp does.
#define FG_EW_ISA isa_baseline
#include "cpu/elementwise_impl.h"
#include "cpu/isa.h"

namespace fg::cpu {

// Declarations of the per-ISA builds (elementwise_v3.cpp, elementwise_v4.cpp).
#define FG_EW_DECLARE(ns)                                                                      \
  namespace ns {                                                                               \
  template <class Op, class T>                                                                 \
  void unary_forward(const T*, T*, int, const int64_t*, const int64_t*, T, T);                \
  template <class Op, class T>                                                                 \
  void unary_backward(const T*, const T*, const T*, T*, int, const int64_t*, const int64_t*,  \
                      const int64_t*, const int64_t*, T, T);                                   \
  template <class Op, class T>                                                                 \
  void binary_forward(const T*, const T*, T*, int, const int64_t*, const int64_t*,            \
                      const int64_t*);                                                         \
  template <class Op, class T>                                                                 \
  void binary_backward(const T*, const T*, const T*, const T*, T*, T*, int, const int64_t*,   \
                       const int64_t*, const int64_t*, const int64_t*, const int64_t*);        \
  template <class Op, class T>                                                                 \
  void compare(const T*, const T*, bool*, int, const int64_t*, const int64_t*, const int64_t*); \
  }
#if defined(FG_X86_DISPATCH)
FG_EW_DECLARE(isa_v3)
FG_EW_DECLARE(isa_v4)
#endif
#undef FG_EW_DECLARE

namespace {
const Isa kIsa = cpu_isa();
}  // namespace

#if defined(FG_X86_DISPATCH)
#define FG_EW_DISPATCH(fn, args)                                \
  do {                                                          \
    if (kIsa == Isa::kV4) return isa_v4::fn<Op, T> args;        \
    if (kIsa == Isa::kV3) return isa_v3::fn<Op, T> args;        \
    return isa_baseline::fn<Op, T> args;                        \
  } while (0)
#else
#define FG_EW_DISPATCH(fn, args) return isa_baseline::fn<Op, T> args
#endif

const char* elementwise_isa() {
  return isa_name(kIsa);
}

template <class Op, class T>
void unary_forward(const T* x, T* y, int ndim, const int64_t* shape, const int64_t* x_strides,
                   T a, T b) {
  FG_EW_DISPATCH(unary_forward, (x, y, ndim, shape, x_strides, a, b));
}

template <class Op, class T>
void unary_backward(const T* x, const T* y, const T* gy, T* gx, int ndim, const int64_t* shape,
                    const int64_t* x_strides, const int64_t* y_strides, const int64_t* gy_strides,
                    T a, T b) {
  FG_EW_DISPATCH(unary_backward,
                 (x, y, gy, gx, ndim, shape, x_strides, y_strides, gy_strides, a, b));
}

template <class Op, class T>
void binary_forward(const T* a, const T* b, T* y, int ndim, const int64_t* shape,
                    const int64_t* a_strides, const int64_t* b_strides) {
  FG_EW_DISPATCH(binary_forward, (a, b, y, ndim, shape, a_strides, b_strides));
}

template <class Op, class T>
void binary_backward(const T* a, const T* b, const T* y, const T* gy, T* ga, T* gb, int ndim,
                     const int64_t* shape, const int64_t* a_strides, const int64_t* b_strides,
                     const int64_t* y_strides, const int64_t* gy_strides) {
  FG_EW_DISPATCH(binary_backward, (a, b, y, gy, ga, gb, ndim, shape, a_strides, b_strides,
                                   y_strides, gy_strides));
}

template <class Op, class T>
void compare(const T* a, const T* b, bool* out, int ndim, const int64_t* shape,
             const int64_t* a_strides, const int64_t* b_strides) {
  FG_EW_DISPATCH(compare, (a, b, out, ndim, shape, a_strides, b_strides));
}
#undef FG_EW_DISPATCH

// The public instantiations (same lists as the per-ISA builds).
#include "cpu/elementwise_inst.h"

}  // namespace fg::cpu
