// CPU loops for the elementwise family: unary forward/backward, binary forward/backward with
// NumPy broadcasting, comparisons. Instantiated in cpu/elementwise.cpp for float and double
// and every functor on FG_UNARY_OPS / FG_BINARY_OPS / FG_COMPARE_OPS (csrc/math).
//
// Layout contract shared by every kernel here:
// - The index space is `shape` (ndim dims, ndim may be 0 for a single element).
// - Inputs are read through strides given in ELEMENTS (any value, 0 for broadcast dims),
//   so NumPy views, transposes and np.broadcast_to results are read in place.
// - Outputs are C-contiguous over `shape` and must not overlap any input.
// - Dims of size 1 are dropped and adjacent dims merged when every operand allows it; the
//   innermost run of each operand takes a vectorisable loop when its stride is 1 (or 0).
// - Empty shapes (a 0 in shape) write nothing. Above kParallelGrain elements the work is
//   split over threads (cpu/parallel.h).
#pragma once

#include <stdint.h>

namespace fg::cpu {

// NumPy's NPY_MAXDIMS: no array handed in from Python has more dims.
constexpr int kMaxDims = 64;

// Which build the kernels below run: "x86-64-v4", "x86-64-v3" or "baseline" (chosen once at
// load time from the CPU's features; see cpu/elementwise_impl.h).
const char* elementwise_isa();

// y = Op::forward(x, a, b).
template <class Op, class T>
void unary_forward(const T* x, T* y, int ndim, const int64_t* shape, const int64_t* x_strides,
                   T a, T b);

// gx = Op::backward(x, y, gy, a, b); x, y, gy each strided over `shape`.
template <class Op, class T>
void unary_backward(const T* x, const T* y, const T* gy, T* gx, int ndim, const int64_t* shape,
                    const int64_t* x_strides, const int64_t* y_strides, const int64_t* gy_strides,
                    T a, T b);

// y = Op::forward(a, b); a and b strided over the broadcast shape (stride 0 on broadcast dims).
template <class Op, class T>
void binary_forward(const T* a, const T* b, T* y, int ndim, const int64_t* shape,
                    const int64_t* a_strides, const int64_t* b_strides);

// ga = Op::backward_a(a, b, y, gy), gb = Op::backward_b(...), in one pass. ga or gb may be
// nullptr (not computed); y is read only if Op::kUsesY (pass gy and its strides otherwise).
template <class Op, class T>
void binary_backward(const T* a, const T* b, const T* y, const T* gy, T* ga, T* gb, int ndim,
                     const int64_t* shape, const int64_t* a_strides, const int64_t* b_strides,
                     const int64_t* y_strides, const int64_t* gy_strides);

// out = Op::forward(a, b) as bool (one byte per element, NumPy's bool).
template <class Op, class T>
void compare(const T* a, const T* b, bool* out, int ndim, const int64_t* shape,
             const int64_t* a_strides, const int64_t* b_strides);

}  // namespace fg::cpu
