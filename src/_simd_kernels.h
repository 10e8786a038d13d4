/* Hot loops of the compiled kernels, in plain C so that GCC can build each one
 * several times for different x86-64 levels (function multiversioning) and pick
 * the best for the CPU when the module is loaded (an ifunc resolver).
 *
 * setup.py compiles for baseline x86-64 (SSE2): portable, but it leaves AVX2 and
 * AVX-512 idle on the machines that have them.  PP_CLONES asks GCC for three
 * copies of a function: x86-64-v4 (AVX-512), x86-64-v3 (AVX2) and the default
 * build.  -ffp-contract=off applies to every copy, so none of them fuses a
 * multiply and an add; + - * / and sqrt are correctly rounded IEEE operations in
 * SSE2, AVX2 and AVX-512 alike, so every copy gives the same bits.
 *
 * Each cloned function processes a whole block, tile row, row or stream, so the
 * (indirect) call costs once per block, never per element.  Cython cannot put
 * attributes on its own functions, hence this header (cdef extern from).
 *
 * Clones need GCC 12 or later (the first to accept the x86-64-v3/v4 names in
 * target_clones: GCC PR 101696), on x86-64 Linux with glibc (the dispatch is an
 * ifunc, which musl and other C libraries lack).  Everything else builds one plain
 * path, compiled for whatever -march the build uses: clang (its support of these
 * names, LLVM 18, also needs a matching __cpu_features2 in the runtime library),
 * MSVC, musl, other architectures.  Compile with -DPYTEST_PARTICLES_NO_CLONES (or
 * build with PYTEST_PARTICLES_NO_CLONES=1, see setup.py) to force the plain path.
 * PP_MULTIVERSIONED says which build this is (the modules export it as CPU_CLONES).
 */
#ifndef PP_SIMD_KERNELS_H
#define PP_SIMD_KERNELS_H

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>  /* a C library header first: it defines __GLIBC__ where the library is glibc */
#include <stddef.h>

#include "_simd_guard.h"

typedef ptrdiff_t pp_ssize_t;

/* ------------------------------------------------------------------------ */
/* Distances and radii without spurious overflow or underflow.               */

/* While x*x + y*y is in [PP_SQUARES_LOW, PP_SQUARES_HIGH], sqrt of it lost nothing to
   underflow or overflow; outside (or not finite) the entry is recomputed by pp_hypot.
   The loops only compare (a compare and an or per vector); the fix-up is rarely taken. */
#define PP_SQUARES_LOW 0x1p-960
#define PP_SQUARES_HIGH 0x1p960
#define PP_OUT_OF_RANGE(s) (((s) < PP_SQUARES_LOW) | !((s) <= PP_SQUARES_HIGH))

/* sqrt(x*x + y*y) as with an unbounded exponent range: x and y scaled by a power of two
   (exact) so that the squares stay normal, as math.hypot does; the same bits as the plain
   formula wherever that one loses nothing.  inf only when the result exceeds DBL_MAX. */
static double pp_hypot(double x, double y)
{
    double m = fabs(x) > fabs(y) ? fabs(x) : fabs(y);
    int e;
    if (m == 0.0 || !(m <= DBL_MAX))
        return m;
    frexp(m, &e);
    x = ldexp(x, -e);
    y = ldexp(y, -e);
    return ldexp(sqrt(x * x + y * y), e);
}

/* ------------------------------------------------------------------------ */
/* Monte Carlo pi: counter-based SplitMix64 streams (see _pi.pyx).           */

#define PP_TWO_POW_M53 (1.0 / 9007199254740992.0)

static inline uint64_t pp_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* The top 53 bits of z as a double in [0, 1): (z >> 11) * 2**-53, exact. */
static inline double pp_unit(uint64_t z)
{
    return (double)(int64_t)(z >> 11) * PP_TWO_POW_M53;
}

/* The counting loop does not evaluate x = 2 * unit(z) - 1 and x * x + y * y <= 1 as
 * written (splitmix_uniforms and the numba backend do) but an equivalent with fewer
 * operations that decides every sample the same way:
 *
 *   v = z >> 11 < 2**53, so 2 * unit(z) = v * 2**-52 exactly and, v being an integer,
 *   v * 2**-52 - 1 is a multiple of 2**-52 in [-1, 1): exactly representable, so the
 *   subtraction is exact and x = X * 2**-52 with the integer X = v - 2**52, |X| <= 2**52,
 *   converted to double exactly.  Scaling by a power of two commutes with rounding while
 *   nothing underflows or overflows (X * X is 0 or >= 1, and <= 2**104), so
 *   fl(fl(x*x) + fl(y*y)) = fl(fl(X*X) + fl(Y*Y)) * 2**-104, and the test
 *   x * x + y * y <= 1 is exactly fl(fl(X*X) + fl(Y*Y)) <= 2**104.
 *
 * Per coordinate that is an integer subtract, a conversion and a square instead of a
 * conversion, a multiply, two adds and a square.  AVX-512DQ converts int64 to double in
 * one instruction (vcvtqq2pd); AVX2 has none, and there pp_centered_split builds X
 * exactly from two 26/27-bit halves with the 2**52 "magic number" trick, which lets
 * GCC vectorize the loop (64-bit multiplies emulated with 32-bit ones). */

/* X = (z >> 11) - 2**52 as a double, by int64 -> double conversion (exact: |X| <= 2**52). */
static inline double pp_centered(uint64_t z)
{
    return (double)((int64_t)(z >> 11) - ((int64_t)1 << 52));
}

static inline double pp_bits_to_double(uint64_t bits)
{
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

/* The same X without a conversion instruction: with h = v >> 26 < 2**27 and
   l = v & (2**26 - 1), the doubles with bits 0x433... | h and | l are 2**52 + h and
   2**52 + l exactly; (2**52 + h) * 2**26 = 2**78 + h * 2**26 (53 significant bits, exact);
   minus (2**78 + 2**52) gives h * 2**26 - 2**52 exactly, and adding l = (2**52 + l) - 2**52
   gives the integer X, |X| <= 2**52, exactly. */
static inline double pp_centered_split(uint64_t z)
{
    uint64_t v = z >> 11;
    double high = pp_bits_to_double(UINT64_C(0x4330000000000000) | (v >> 26)) * 0x1p26 - (0x1p78 + 0x1p52);
    double low = pp_bits_to_double(UINT64_C(0x4330000000000000) | (v & 0x3ffffff)) - 0x1p52;
    return high + low;
}

#define PP_SPLITMIX_LOOP(CENTERED)                                      \
    for (k = 0; k < n; k++) {                                           \
        double x = CENTERED(pp_mix64(counter));                         \
        double y = CENTERED(pp_mix64(counter + gamma));                 \
        hits += (x * x + y * y <= 0x1p104);                             \
        counter += step;                                                \
    }

/* Hits in the unit circle of the first n samples of the stream (seed, gamma):
   sample k is x = output 2k, y = output 2k + 1, output m = mix64(seed + (m + 1) * gamma). */
PP_CLONES
static int64_t pp_splitmix_hits(uint64_t seed, uint64_t gamma, int64_t n)
{
    int64_t k, hits = 0;
    uint64_t counter = seed + gamma, step = 2 * gamma;
    /* AVX2 without AVX-512DQ (the x86-64-v3 clone): no int64 -> double vector conversion */
    if (PP_CPU_AVX2 && !PP_CPU_AVX512DQ) {
        PP_SPLITMIX_LOOP(pp_centered_split)
        return hits;
    }
    PP_SPLITMIX_LOOP(pp_centered)
    return hits;
}

/* ------------------------------------------------------------------------ */
/* Particle simulator: explicit Euler steps of one block of particles.       */

#define PP_EVOLVE_BLOCK 256

/* One step of n particles from (x, y) to (nx, ny); whether a squared radius left the safe range. */
static inline int pp_evolve_step(const double *restrict x, const double *restrict y,
                                 const double *restrict t_x_ang, double *restrict nx, double *restrict ny,
                                 pp_ssize_t n)
{
    pp_ssize_t i;
    int64_t bad = 0;
    for (i = 0; i < n; i++) {
        double xi = x[i], yi = y[i], s = xi * xi + yi * yi;
        double norm = sqrt(s);
        /* both displacements come from the old position (the book's tuple assignment) */
        nx[i] = xi - t_x_ang[i] * (yi / norm);
        ny[i] = yi + t_x_ang[i] * (xi / norm);
        bad |= PP_OUT_OF_RANGE(s);
    }
    return bad != 0;
}

/* The same step again for the particles whose squared radius left the safe range, by pp_hypot. */
static void pp_evolve_fix(const double *x, const double *y, const double *t_x_ang, double *nx, double *ny,
                          pp_ssize_t n)
{
    pp_ssize_t i;
    for (i = 0; i < n; i++) {
        double xi = x[i], yi = y[i], s = xi * xi + yi * yi;
        if (PP_OUT_OF_RANGE(s)) {
            double norm = pp_hypot(xi, yi);
            nx[i] = xi - t_x_ang[i] * (yi / norm);
            ny[i] = yi + t_x_ang[i] * (xi / norm);
        }
    }
}

/* Advance particles [start, start + size) of r (rows of `stride` doubles, x then y)
   by nsteps steps; size <= PP_EVOLVE_BLOCK.  Steps outer, particles inner; each step
   reads one pair of arrays and writes the other, so that a rare fix-up can redo it. */
PP_CLONES
static void pp_evolve_block(double *r, pp_ssize_t stride, const double *ang_speed, double timestep,
                            pp_ssize_t nsteps, pp_ssize_t start, pp_ssize_t size)
{
    double x[2][PP_EVOLVE_BLOCK], y[2][PP_EVOLVE_BLOCK], t_x_ang[PP_EVOLVE_BLOCK];
    pp_ssize_t i, step, n = size < PP_EVOLVE_BLOCK ? size : PP_EVOLVE_BLOCK;
    int now = 0;
    for (i = 0; i < n; i++) {
        x[0][i] = r[(start + i) * stride];
        y[0][i] = r[(start + i) * stride + 1];
        t_x_ang[i] = timestep * ang_speed[start + i];
    }
    for (step = 0; step < nsteps; step++) {
        if (pp_evolve_step(x[now], y[now], t_x_ang, x[1 - now], y[1 - now], n))
            pp_evolve_fix(x[now], y[now], t_x_ang, x[1 - now], y[1 - now], n);
        now = 1 - now;
    }
    for (i = 0; i < n; i++) {
        r[(start + i) * stride] = x[now][i];
        r[(start + i) * stride + 1] = y[now][i];
    }
}

/* ------------------------------------------------------------------------ */
/* Distance matrix (see _distance.pyx).                                      */

/* d[j] again for the j in [start, stop) whose squared distance left the safe range, by pp_hypot. */
static void pp_fix_row(const double *x, const double *y, pp_ssize_t stride, double xi, double yi, double *d,
                       pp_ssize_t start, pp_ssize_t stop)
{
    pp_ssize_t j;
    for (j = start; j < stop; j++) {
        double dx = x[stride * j] - xi, dy = y[stride * j] - yi;
        if (PP_OUT_OF_RANGE(dx * dx + dy * dy))
            d[j] = pp_hypot(dx, dy);
    }
}

/* Row i of D from points r (n rows of `stride` doubles, x then y): d[j] = |r[j] - r[i]|. */
PP_CLONES
static void pp_row_interleaved(const double *r, pp_ssize_t stride, double *d, pp_ssize_t n, pp_ssize_t i)
{
    pp_ssize_t j;
    int64_t bad = 0;  /* entries out of the safe range; the diagonal's 0 is one */
    double xi = r[stride * i], yi = r[stride * i + 1];
    if (stride == 2) {  /* the usual (n, 2) array: a constant stride the compiler vectorizes */
        for (j = 0; j < n; j++) {
            double dx = r[2 * j] - xi, dy = r[2 * j + 1] - yi, s = dx * dx + dy * dy;
            d[j] = sqrt(s);
            bad += PP_OUT_OF_RANGE(s);
        }
    } else {
        for (j = 0; j < n; j++) {
            double dx = r[stride * j] - xi, dy = r[stride * j + 1] - yi, s = dx * dx + dy * dy;
            d[j] = sqrt(s);
            bad += PP_OUT_OF_RANGE(s);
        }
    }
    if (bad > 1)
        pp_fix_row(r, r + 1, stride, xi, yi, d, 0, n);
}

static inline void pp_distances_inline(const double *x, const double *y, pp_ssize_t i, double *out,
                                       pp_ssize_t start, pp_ssize_t stop)
{
    pp_ssize_t j;
    int64_t bad = 0;
    double xi = x[i], yi = y[i];
    for (j = start; j < stop; j++) {
        double dx = x[j] - xi, dy = y[j] - yi, s = dx * dx + dy * dy;
        out[j] = sqrt(s);
        bad += PP_OUT_OF_RANGE(s);
    }
    if (bad > (start <= i && i < stop))  /* more than the diagonal's 0 */
        pp_fix_row(x, y, 1, xi, yi, out, start, stop);
}

/* out[j] = distance from point i to point j, for j in [start, stop); points as x and y arrays. */
PP_CLONES
static void pp_distances(const double *x, const double *y, pp_ssize_t i, double *out,
                         pp_ssize_t start, pp_ssize_t stop)
{
    pp_distances_inline(x, y, i, out, start, stop);
}

/* D[i, j] and its mirror D[j, i] for j in [start, stop), each distance computed once; j != i. */
static inline void pp_pairs(const double *x, const double *y, double *d, pp_ssize_t n, pp_ssize_t i,
                            pp_ssize_t start, pp_ssize_t stop)
{
    pp_ssize_t j;
    int64_t bad = 0;
    double xi = x[i], yi = y[i];
    double *row = d + i * n;
    double *column = d + i;
    for (j = start; j < stop; j++) {
        double dx = x[j] - xi, dy = y[j] - yi, s = dx * dx + dy * dy;
        double dist = sqrt(s);
        row[j] = dist;
        column[j * n] = dist;
        bad += PP_OUT_OF_RANGE(s);
    }
    if (bad) {
        pp_fix_row(x, y, 1, xi, yi, row, start, stop);
        for (j = start; j < stop; j++)
            column[j * n] = row[j];
    }
}

/* Whether pp_tile_row computes whole rows rather than mirrored tiles although n % aliasing != 0:
   in the AVX2 and AVX-512 clones, where square roots are cheap and the row loop's contiguous
   vector stores beat the tiles' scattered mirrored stores (N = 10000, one Zen 4 core:
   rows 65-72 ms, tiles 83-90 ms; the SSE2 build: rows 125 ms, tiles 93 ms).  The results
   are the same bits either way. */
static inline int pp_rows_are_faster(void)
{
    return PP_CPU_AVX2;  /* a v3 or v4 clone runs, or the one path is built for AVX2 */
}

/* The tiles of rows [i0, i0 + tile) on and right of the diagonal, with their mirrors;
   whole rows instead when n % aliasing == 0 or the CPU has AVX2 (see _distance.pyx). */
PP_CLONES
static void pp_tile_row(const double *x, const double *y, double *d, pp_ssize_t n, pp_ssize_t i0,
                        pp_ssize_t tile, pp_ssize_t aliasing)
{
    pp_ssize_t i, t, j0, j1, i1 = i0 + tile < n ? i0 + tile : n;
    if (n % aliasing == 0 || pp_rows_are_faster()) {
        for (i = i0; i < i1; i++)
            pp_distances_inline(x, y, i, d + i * n, 0, n);
        return;
    }
    for (i = i0; i < i1; i++) {  /* the diagonal tile: pairs above the diagonal */
        d[i * n + i] = 0.0;
        pp_pairs(x, y, d, n, i, i + 1, i1);
    }
    for (t = 1; t < (n - i0 + tile - 1) / tile; t++) {  /* the tiles right of it */
        j0 = i0 + t * tile;
        j1 = j0 + tile < n ? j0 + tile : n;
        for (i = i0; i < i1; i++)
            pp_pairs(x, y, d, n, i, j0, j1);
    }
}

#endif /* PP_SIMD_KERNELS_H */
