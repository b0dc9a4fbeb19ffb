// CPU reductions: sum / mean / max / min and var over any set of axes, and max / min with
// int64 indices along one axis. Instantiated in cpu/reduce.cpp for float and double.
//
// Layout contract shared by the value reductions:
// - x is read through (shape, strides) with ndim dims, strides in ELEMENTS (any value);
//   the first `nkeep` dims are kept, the rest reduced (Python permutes the axes with a view).
// - out is C-contiguous over shape[0:nkeep] and must not overlap x.
// - Reduced dims are reordered by stride and mergeable dims merged, then one of two loops
//   runs: "inner" (each output reduces runs along its smallest-stride reduced dim, 16-lane
//   vector loop when that stride is 1) or "vertical" (kept innermost dim contiguous, e.g.
//   column sums: rows are streamed and accumulated into stripes of outputs, cache-friendly).
// - Accumulation: acc_t<T> inside blocks of at most 1024 terms, double across blocks.
//   The work split depends on sizes only, so results are identical for any thread count.
// - Empty reduced extent: sum -> 0, mean / var -> nan; max / min must not be called with it
//   (the binding raises ValueError). Empty output: nothing is written.
#pragma once

#include <stdint.h>

namespace fg::cpu {

// out = sum (mean: sum / count) of x over the reduced dims.
template <class T>
void reduce_sum(const T* x, T* out, int ndim, const int64_t* shape, const int64_t* strides,
                int nkeep, bool mean);

// out = max (is_min: min) of x over the reduced dims; nan propagates.
template <class T>
void reduce_max(const T* x, T* out, int ndim, const int64_t* shape, const int64_t* strides,
                int nkeep, bool is_min);

// out = sum((x - mean)^2) / max(count - correction, 0), two passes (mean first).
template <class T>
void reduce_var(const T* x, T* out, int ndim, const int64_t* shape, const int64_t* strides,
                int nkeep, double correction);

// values, indices = max (is_min: min) of x along its LAST dim and the first index reaching it
// (first nan if any); both C-contiguous over shape[0:ndim-1]. shape[ndim-1] must be >= 1.
template <class T>
void reduce_with_index(const T* x, T* values, int64_t* indices, int ndim, const int64_t* shape,
                       const int64_t* strides, bool is_min);

}  // namespace fg::cpu
