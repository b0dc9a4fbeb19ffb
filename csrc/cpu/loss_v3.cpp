// Softmax / cross-entropy row kernels compiled for x86-64-v3 (CMake adds -march=x86-64-v3 for
// *_v3.cpp); picked at run time by loss.cpp. The loops are in cpu/loss_impl.h.
#define FG_LOSS_ISA isa_v3
#define FG_LOSS_TABLE_F32 loss_kernels_v3_f32
#define FG_LOSS_TABLE_F64 loss_kernels_v3_f64
#include "cpu/loss_impl.h"
