// AVX2+FMA GEMM instance (compiled with -march=x86-64-v3, see CMakeLists.txt).
// 16 ymm registers: a 6×16 float tile is 12 accumulators + 2 B vectors + 1 broadcast.
#define FG_GEMM_NS v3
#define FG_GEMM_VBYTES 32
#define FG_GEMM_MR_F32 6
#define FG_GEMM_NV_F32 2
#define FG_GEMM_MR_F64 6
#define FG_GEMM_NV_F64 2
#define FG_GEMM_KC_F32 384
#define FG_GEMM_MC_F32 192
#define FG_GEMM_NC_F32 1024
#define FG_GEMM_KC_F64 256
#define FG_GEMM_MC_F64 96
#define FG_GEMM_NC_F64 768
#include "cpu/matmul_kernel.h"

namespace fg::cpu::detail {
GemmTable gemm_table_v3() { return v3::make_table("avx2"); }
}  // namespace fg::cpu::detail
