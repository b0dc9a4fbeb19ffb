// AVX-512 GEMM instance (compiled with -march=x86-64-v4 -mprefer-vector-width=512).
// 32 zmm registers. float32: a 24×16 tile, 24 accumulators + 1 B vector, each FMA taking its
// A value as an embedded-broadcast memory operand (no broadcast registers, one vector load per
// 24 FMAs): in L1 it ran at 0.90 of the FMA peak where 12×32 (12 broadcasts + 2 loads per 24
// FMAs) ran at 0.80, and 1024² / 2048² products ran 9% faster. KC = 256 keeps the A panel
// (24 KB) and a B panel (16 KB) in L1 together; MC = 240 keeps the panel-major budget
// (2·MC·KC) above the 144×784 packed A of the MLP's 128-row products.
// float64: a 12×16 tile, 24 accumulators + 2 B vectors + 1 broadcast.
#define FG_GEMM_NS v4
#define FG_GEMM_VBYTES 64
#define FG_GEMM_MR_F32 24
#define FG_GEMM_NV_F32 1
#define FG_GEMM_MR_F64 12
#define FG_GEMM_NV_F64 2
#define FG_GEMM_KC_F32 256
#define FG_GEMM_MC_F32 240
#define FG_GEMM_NC_F32 1024
#define FG_GEMM_KC_F64 256
#define FG_GEMM_MC_F64 96
#define FG_GEMM_NC_F64 768
#include "cpu/matmul_kernel.h"

namespace fg::cpu::detail {
GemmTable gemm_table_v4() { return v4::make_table("avx512"); }
}  // namespace fg::cpu::detail
