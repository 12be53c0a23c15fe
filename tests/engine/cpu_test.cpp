// Run-time CPU checks: `auto` precision follows what oneDNN reports for this CPU. CTest runs
// the engine suite a second time with DNNL_MAX_CPU_ISA=AVX2 to prove the fp32 path on CPUs
// without AVX-512 or bf16.
#include <gtest/gtest.h>

#include <cstdlib>

#include "engine/session.h"

namespace bgerase::engine {
namespace {

TEST(CpuTest, AutoPicksBf16ExactlyWhenTheCpuHasNativeBf16) {
  const CpuInfo cpu = DetectCpu();
  const bool native = cpu.isa == "avx512_core_bf16" || cpu.isa == "avx512_core_amx";
  EXPECT_EQ(cpu.native_bf16, native) << cpu.isa;
  EXPECT_EQ(ResolvePrecision(Precision::kAuto),
            native ? Precision::kBFloat16 : Precision::kFloat32);
  EXPECT_EQ(ResolvePrecision(Precision::kFloat32), Precision::kFloat32);
  EXPECT_EQ(ResolvePrecision(Precision::kBFloat16), Precision::kBFloat16);
  EXPECT_GE(cpu.cores, 1);
  if (const char* cap = std::getenv("DNNL_MAX_CPU_ISA"); cap && std::string(cap) == "AVX2") {
    EXPECT_FALSE(cpu.native_bf16);
    EXPECT_EQ(cpu.isa, "avx2");
  }
}

TEST(CpuTest, PrecisionNamesParse) {
  EXPECT_EQ(*ParsePrecision("AUTO"), Precision::kAuto);
  EXPECT_EQ(*ParsePrecision("fp32"), Precision::kFloat32);
  EXPECT_EQ(*ParsePrecision("bfloat16"), Precision::kBFloat16);
  EXPECT_EQ(ParsePrecision("fp16").status().code(), "invalid_precision");
}

}  // namespace
}  // namespace bgerase::engine
