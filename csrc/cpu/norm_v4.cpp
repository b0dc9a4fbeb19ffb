// Batch-norm kernels compiled for x86-64-v4 (CMake adds -march=x86-64-v4 for *_v4.cpp);
// picked at run time by norm.cpp. The loops are in cpu/norm_impl.h.
#define FG_NORM_ISA isa_v4
#define FG_NORM_TABLE_F32 norm_kernels_v4_f32
#define FG_NORM_TABLE_F64 norm_kernels_v4_f64
#include "cpu/norm_impl.h"
