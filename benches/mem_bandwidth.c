/* The machine's memory read bandwidth on one and two threads, for
 * BENCHMARKS.md: the floor under a layer whose weights no cache holds
 * (AlexNet's and VGG-16's dense layers read 234 MB and 494 MB of weights
 * per pass). Sums a 256 MiB array with AVX2 loads, four independent
 * accumulators per thread, the array split in contiguous halves; the best
 * of ten passes.
 *
 *     gcc -O2 -mavx2 -pthread -o /tmp/mem_bandwidth benches/mem_bandwidth.c && /tmp/mem_bandwidth
 */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define N (64L * 1024 * 1024)

static float *a;

struct part {
    long lo, hi;
    float sum;
};

static void *run(void *p) {
    struct part *x = p;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    for (long i = x->lo; i < x->hi; i += 32) {
        s0 = _mm256_add_ps(s0, _mm256_load_ps(a + i));
        s1 = _mm256_add_ps(s1, _mm256_load_ps(a + i + 8));
        s2 = _mm256_add_ps(s2, _mm256_load_ps(a + i + 16));
        s3 = _mm256_add_ps(s3, _mm256_load_ps(a + i + 24));
    }
    float v[8];
    _mm256_storeu_ps(v, _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    x->sum = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
    return 0;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(void) {
    a = aligned_alloc(64, N * sizeof(float));
    for (long i = 0; i < N; i++) a[i] = 1.0f;
    for (int threads = 1; threads <= 2; threads++) {
        double best = 1e9;
        float sum = 0;
        for (int r = 0; r < 10; r++) {
            pthread_t t[2];
            struct part p[2];
            double t0 = now();
            for (int k = 0; k < threads; k++) {
                p[k].lo = N / threads * k;
                p[k].hi = N / threads * (k + 1);
                pthread_create(&t[k], 0, run, &p[k]);
            }
            for (int k = 0; k < threads; k++) pthread_join(t[k], 0);
            double d = now() - t0;
            if (d < best) best = d;
            for (int k = 0; k < threads; k++) sum += p[k].sum;
        }
        printf("%d thread%s: %.1f GB/s (%.2f ms per 256 MiB; checksum %.0f)\n", threads,
               threads == 1 ? "" : "s", N * 4.0 / best / 1e9, best * 1e3, sum);
    }
    return 0;
}
