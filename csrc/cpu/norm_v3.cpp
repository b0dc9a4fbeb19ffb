// Batch-norm kernels compiled for x86-64-v3 (CMake adds -march=x86-64-v3 for *_v3.cpp);
// picked at run time by norm.cpp. The loops are in cpu/norm_impl.h.
#define FG_NORM_ISA isa_v3
#define FG_NORM_TABLE_F32 norm_kernels_v3_f32
#define FG_NORM_TABLE_F64 norm_kernels_v3_f64
#include "cpu/norm_impl.h"
