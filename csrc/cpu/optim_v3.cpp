// Fused optimizer steps compiled for x86-64-v3 (CMake adds -march=x86-64-v3 for *_v3.cpp);
// picked at run time by optim_kernels() in optim.cpp. The loops are in cpu/optim_impl.h.

#define FG_OPTIM_ISA isa_v3
#define FG_OPTIM_TABLE_F32 optim_kernels_v3_f32
#define FG_OPTIM_TABLE_F64 optim_kernels_v3_f64
#include "cpu/optim_impl.h"
