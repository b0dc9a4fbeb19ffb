// Elementwise kernels compiled for x86-64-v4 (AVX-512): CMake adds -march=x86-64-v4 to *_v4.cpp.
// Picked at run time by cpu/elementwise.cpp; the loops are in cpu/elementwise_impl.h.
#define FG_EW_ISA isa_v4
#include "cpu/elementwise_impl.h"
