// Loops compiled for AVX-512 and AVX2 beside the baseline x86-64 build, chosen at run time by
// GCC's target_clones (an ifunc resolved at load): same arithmetic, wider vectors. Clang 14
// cannot clone templates; its builds (the libFuzzer ones) take the portable loops, and so do
// ThreadSanitizer builds: GCC instruments the clones' ifunc resolver, which the dynamic loader
// runs before libtsan is set up, so every binary crashed before main() (make test-tsan).
#pragma once

#if defined(__clang__) || defined(__SANITIZE_THREAD__)
#define BGERASE_CLONES_AVX512
#define BGERASE_CLONES_AVX2
#else
#define BGERASE_CLONES_AVX512 __attribute__((target_clones("avx512f", "avx2", "default")))
#define BGERASE_CLONES_AVX2 __attribute__((target_clones("avx2", "default")))
#endif
