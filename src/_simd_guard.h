/* Whether the hot loops of _simd_kernels.h are built as GCC target_clones, from the
 * compiler's predefined macros and __GLIBC__ alone (so that a test can preprocess this file
 * as other compilers and C libraries would see it).  Include a C library header first:
 * glibc defines __GLIBC__ there.  See _simd_kernels.h for why these conditions. */
#ifndef PP_SIMD_GUARD_H
#define PP_SIMD_GUARD_H

#if !defined(PYTEST_PARTICLES_NO_CLONES) && defined(__GNUC__) && !defined(__clang__) \
    && !defined(__INTEL_COMPILER) && __GNUC__ >= 12 && defined(__x86_64__) && defined(__linux__) \
    && defined(__GLIBC__)
#define PP_MULTIVERSIONED 1
#define PP_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"), noinline, unused))
/* which clone runs, for the few choices that differ between them (same bits either way) */
#define PP_CPU_AVX2 __builtin_cpu_supports("avx2")
#define PP_CPU_AVX512DQ __builtin_cpu_supports("avx512dq")
#else
#define PP_MULTIVERSIONED 0
#if defined(__GNUC__)
#define PP_CLONES __attribute__((unused))
#else
#define PP_CLONES
#endif
/* one path: the instruction set this file is compiled for */
#if defined(__AVX2__)
#define PP_CPU_AVX2 1
#else
#define PP_CPU_AVX2 0
#endif
#if defined(__AVX512DQ__)
#define PP_CPU_AVX512DQ 1
#else
#define PP_CPU_AVX512DQ 0
#endif
#endif

#endif /* PP_SIMD_GUARD_H */
