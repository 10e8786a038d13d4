/* Runs the hot loops of src/_simd_kernels.h on fixed inputs and prints inputs and results, one
 * value a line: doubles as the hex of their bits, counts in decimal, each part after a "# name" line.
 * tests/test_build.py compiles it for each CPU path and compares the outputs bit for bit. */
#include <stdio.h>
#include "_simd_kernels.h"

#define N_EVOLVE 300  /* more than a block, not a multiple of any vector width */
#define N_POINTS 200
#define STREAMS 8

static double uniform(uint64_t k) { return 2.0 * pp_unit(pp_mix64(k)) - 1.0; }  /* in [-1, 1), exact */

static void put(const double *v, pp_ssize_t n)
{
    pp_ssize_t i;
    uint64_t bits;
    for (i = 0; i < n; i++) {
        memcpy(&bits, &v[i], sizeof bits);
        printf("%016llx\n", (unsigned long long)bits);
    }
}

static double r[N_EVOLVE * 2], speed[N_EVOLVE], p[N_POINTS * 2], x[N_POINTS], y[N_POINTS];
static double d[N_POINTS * N_POINTS];

int main(void)
{
    pp_ssize_t i, start;
    uint64_t seed, gamma;
    int64_t count;
    printf("# multiversioned\n%d\n", PP_MULTIVERSIONED);
    for (i = 0; i < N_EVOLVE; i++) {
        r[2 * i] = uniform(3 * i);
        r[2 * i + 1] = uniform(3 * i + 1);
        speed[i] = uniform(3 * i + 2);
    }
    printf("# evolve input\n");
    put(r, 2 * N_EVOLVE);
    printf("# evolve speeds\n");
    put(speed, N_EVOLVE);
    for (start = 0; start < N_EVOLVE; start += PP_EVOLVE_BLOCK)
        pp_evolve_block(r, 2, speed, 1e-3, 100, start, N_EVOLVE - start);
    printf("# evolve\n");
    put(r, 2 * N_EVOLVE);

    for (i = 0; i < N_POINTS; i++) {
        p[2 * i] = x[i] = uniform(1000000 + 2 * i);
        p[2 * i + 1] = y[i] = uniform(1000000 + 2 * i + 1);
    }
    printf("# points\n");
    put(p, 2 * N_POINTS);
    for (i = 0; i < N_POINTS; i++)
        pp_row_interleaved(p, 2, d + i * N_POINTS, N_POINTS, i);
    printf("# rows\n");
    put(d, N_POINTS * N_POINTS);
    memset(d, 0, sizeof d);
    for (i = 0; i < N_POINTS; i++)
        pp_distances(x, y, i, d + i * N_POINTS, 0, N_POINTS);
    printf("# distances\n");
    put(d, N_POINTS * N_POINTS);
    memset(d, 0, sizeof d);
    for (start = 0; start < N_POINTS; start += 64)  /* 64-point tiles; aliasing 1024 keeps tiles on SSE2 */
        pp_tile_row(x, y, d, N_POINTS, start, 64, 1024);
    printf("# tiles\n");
    put(d, N_POINTS * N_POINTS);

    printf("# splitmix\n");
    for (i = 0; i < STREAMS; i++) {
        seed = pp_mix64(UINT64_C(7) + i);
        gamma = pp_mix64(UINT64_C(100) + i) | 1;
        count = 10000 + 777 * i;
        printf("%llu %llu %lld %lld\n", (unsigned long long)seed, (unsigned long long)gamma, (long long)count,
               (long long)pp_splitmix_hits(seed, gamma, count));
    }
    return 0;
}
