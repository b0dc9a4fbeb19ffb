// Portable GEMM instance: 16-byte GCC vectors (SSE2 on x86-64, NEON on arm64), no FMA.
// 16 vector registers: a 4×8 float tile (8 accumulators) leaves room for B and the broadcast.
#define FG_GEMM_NS base
#define FG_GEMM_VBYTES 16
#define FG_GEMM_MR_F32 4
#define FG_GEMM_NV_F32 2
#define FG_GEMM_MR_F64 4
#define FG_GEMM_NV_F64 2
#define FG_GEMM_KC_F32 256
#define FG_GEMM_MC_F32 256
#define FG_GEMM_NC_F32 1024
#define FG_GEMM_KC_F64 256
#define FG_GEMM_MC_F64 128
#define FG_GEMM_NC_F64 512
#include "cpu/matmul_kernel.h"

namespace fg::cpu::detail {
GemmTable gemm_table_base() { return base::make_table("base"); }
}  // namespace fg::cpu::detail
