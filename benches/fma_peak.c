/* The machine's single-core f32 FMA throughput, for BENCHMARKS.md:
 * independent chains of FMAs, enough to keep two FMA units busy through
 * their 4-5 cycle latency, on AVX-512 (16 chains of 32 registers) and on
 * AVX2 + FMA (12 chains, so that they and the two operands fit in 16
 * registers without spilling); each is measured where the CPU has it.
 *
 *     gcc -O2 -o /tmp/fma_peak benches/fma_peak.c && /tmp/fma_peak
 */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

static double seconds(struct timespec t0, struct timespec t1) {
    return (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
}

__attribute__((target("avx512f"))) static void run_avx512(long n) {
    __m512 acc[16];
    for (int i = 0; i < 16; i++) acc[i] = _mm512_set1_ps(0.001f * i);
    __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long k = 0; k < n; k++) {
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = seconds(t0, t1);
    float sum = 0;
    for (int i = 0; i < 16; i++) sum += _mm512_reduce_add_ps(acc[i]);
    printf("avx512: %.1f GFLOP/s f32 FMA on one core (%.3f s; checksum %g)\n", n * 16 * 32.0 / s / 1e9, s, sum);
}

__attribute__((target("avx2,fma"))) static void run_avx2(long n) {
    __m256 acc[12];
    for (int i = 0; i < 12; i++) acc[i] = _mm256_set1_ps(0.001f * i);
    __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long k = 0; k < n; k++) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = seconds(t0, t1);
    float sum = 0;
    float lanes[8];
    for (int i = 0; i < 12; i++) {
        _mm256_storeu_ps(lanes, acc[i]);
        for (int j = 0; j < 8; j++) sum += lanes[j];
    }
    printf("avx2:   %.1f GFLOP/s f32 FMA on one core (%.3f s; checksum %g)\n", n * 12 * 16.0 / s / 1e9, s, sum);
}

int main(void) {
    __builtin_cpu_init();
    int avx512 = __builtin_cpu_supports("avx512f");
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (!avx512 && !avx2) {
        printf("neither AVX-512F nor AVX2 + FMA: no figure\n");
        return 1;
    }
    for (int run = 0; run < 5; run++) {
        if (avx512) run_avx512(200000000L);
        if (avx2) run_avx2(200000000L);
    }
    return 0;
}
