/* The machine's single-core f32 FMA throughput, for BENCHMARKS.md:
 * 16 independent chains of AVX-512 FMAs (enough to keep two FMA units
 * busy through their 4-cycle latency).
 *
 *     gcc -O2 -mavx512f -o /tmp/fma_peak benches/fma_peak.c && /tmp/fma_peak
 */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

int main(void) {
    for (int run = 0; run < 5; run++) {
        __m512 acc[16];
        for (int i = 0; i < 16; i++) acc[i] = _mm512_set1_ps(0.001f * i);
        __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
        long n = 200000000L;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (long k = 0; k < n; k++) {
#pragma GCC unroll 16
            for (int i = 0; i < 16; i++) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
        float sum = 0;
        for (int i = 0; i < 16; i++) sum += _mm512_reduce_add_ps(acc[i]);
        printf("%.1f GFLOP/s f32 FMA on one core (%.3f s; checksum %g)\n", n * 16 * 32.0 / s / 1e9, s, sum);
    }
    return 0;
}
