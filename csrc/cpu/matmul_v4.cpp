// AVX-512 GEMM instance (compiled with -march=x86-64-v4 -mprefer-vector-width=512).
// 32 zmm registers: a 12×32 float tile is 24 accumulators + 2 B vectors + 1 broadcast.
#define FG_GEMM_NS v4
#define FG_GEMM_VBYTES 64
#define FG_GEMM_MR_F32 12
#define FG_GEMM_NV_F32 2
#define FG_GEMM_MR_F64 12
#define FG_GEMM_NV_F64 2
#define FG_GEMM_KC_F32 384
#define FG_GEMM_MC_F32 192
#define FG_GEMM_NC_F32 1024
#define FG_GEMM_KC_F64 256
#define FG_GEMM_MC_F64 96
#define FG_GEMM_NC_F64 768
#include "cpu/matmul_kernel.h"

namespace fg::cpu::detail {
GemmTable gemm_table_v4() { return v4::make_table("avx512"); }
}  // namespace fg::cpu::detail
