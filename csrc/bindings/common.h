// Validation and dtype-dispatch helpers shared by every csrc/bindings/<family>.cpp.
//
// Bindings take generic py::array arguments marked .noconvert() (so nothing is ever copied
// behind the caller's back), check them here with messages that name the argument, its
// shape and dtype, then release the GIL around the pure C++ kernel call.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace fg::bind {

namespace py = pybind11;

enum class DType { kF32, kF64, kI64, kBool, kOther };

// Shape written like (2, 3), as the API contract asks for in error messages.
inline std::string shape_str(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    if (i) s += ", ";
    s += std::to_string(a.shape(i));
  }
  if (a.ndim() == 1) s += ",";
  return s + ")";
}

inline std::string dtype_str(const py::array& a) { return py::str(a.dtype()).cast<std::string>(); }

inline DType dtype_of(const py::array& a) {
  const char kind = a.dtype().kind();
  const auto size = a.itemsize();
  if (kind == 'f' && size == 4) return DType::kF32;
  if (kind == 'f' && size == 8) return DType::kF64;
  if (kind == 'i' && size == 8) return DType::kI64;
  if (kind == 'b' && size == 1) return DType::kBool;
  return DType::kOther;
}

// The dtype of a float32/float64 array; TypeError naming the argument otherwise.
inline DType float_dtype(const py::array& a, const char* name) {
  const DType dt = dtype_of(a);
  if (dt != DType::kF32 && dt != DType::kF64)
    throw py::type_error(std::string(name) + ": expected float32 or float64, got " + dtype_str(a));
  return dt;
}

inline void check_dtype(const py::array& a, const char* name, DType want, const char* want_str) {
  if (dtype_of(a) != want)
    throw py::type_error(std::string(name) + ": expected " + want_str + ", got " + dtype_str(a));
}

inline void check_same_dtype(const py::array& a, const char* an, const py::array& b,
                             const char* bn) {
  if (!a.dtype().is(b.dtype()) && dtype_of(a) != dtype_of(b))
    throw py::type_error(std::string("dtype mismatch: ") + an + " is " + dtype_str(a) + " but " +
                         bn + " is " + dtype_str(b));
}

inline void check_contiguous(const py::array& a, const char* name) {
  if (!(a.flags() & py::array::c_style))
    throw std::invalid_argument(std::string(name) + ": expected a C-contiguous array of shape " +
                                shape_str(a));
}

// Output / in-place buffers: C-contiguous and writeable (never silently copied).
inline void check_out(const py::array& a, const char* name) {
  check_contiguous(a, name);
  if (!a.writeable()) throw std::invalid_argument(std::string(name) + ": array is read-only");
}

inline void check_same_shape(const py::array& a, const char* an, const py::array& b,
                             const char* bn) {
  bool same = a.ndim() == b.ndim();
  for (py::ssize_t i = 0; same && i < a.ndim(); ++i) same = a.shape(i) == b.shape(i);
  if (!same)
    throw std::invalid_argument(std::string("shape mismatch: ") + an + " has shape " +
                                shape_str(a) + " but " + bn + " has shape " + shape_str(b));
}

// Strides in elements (NumPy gives bytes). Zero strides (broadcast views) are fine.
inline std::vector<int64_t> elem_strides(const py::array& a) {
  std::vector<int64_t> s(static_cast<size_t>(a.ndim()));
  const auto item = static_cast<int64_t>(a.itemsize());
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    const auto b = static_cast<int64_t>(a.strides(i));
    if (b % item != 0) throw std::invalid_argument("array strides are not a multiple of its itemsize");
    s[static_cast<size_t>(i)] = b / item;
  }
  return s;
}

inline std::vector<int64_t> shape_vec(const py::array& a) {
  std::vector<int64_t> s(static_cast<size_t>(a.ndim()));
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s[static_cast<size_t>(i)] = a.shape(i);
  return s;
}

template <class T>
const T* in_ptr(const py::array& a) {
  return static_cast<const T*>(a.data());
}
template <class T>
T* out_ptr(py::array& a) {
  return static_cast<T*>(a.mutable_data());
}

// Calls f(T{}) with T = float or double. Usage:
//   dispatch_float(dt, [&](auto tag) { using T = decltype(tag); ... });
template <class F>
decltype(auto) dispatch_float(DType dt, F&& f) {
  if (dt == DType::kF32) return f(float{});
  return f(double{});
}

}  // namespace fg::bind
