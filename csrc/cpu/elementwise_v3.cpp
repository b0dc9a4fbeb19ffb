// Elementwise kernels compiled for x86-64-v3 (AVX2 + FMA): CMake adds -march=x86-64-v3 to *_v3.cpp.
// Picked at run time by cpu/elementwise.cpp; the loops are in cpu/elementwise_impl.h.
#define FG_EW_ISA isa_v3
#include "cpu/elementwise_impl.h"
