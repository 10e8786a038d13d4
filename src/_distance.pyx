# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled distance matrix, serial and OpenMP; D[i, j] = sqrt(dx**2 + dy**2).

``c_distance_matrix`` and ``omp_distance_matrix`` are the book's loop over
rows.  ``blocked_distance_matrix`` computes each pair once and writes it
twice, D[i, j] and D[j, i]: the upper triangle is cut into TILE x TILE tiles
so that the mirrored writes, a column of D each, stay in L1 cache; rows of
tiles are shared among OpenMP threads.  ``(a - b)**2 == (b - a)**2`` exactly in
IEEE arithmetic, so every kernel here gives the same bits as the row loop.

When a row of D is a multiple of 2 KiB long (N a multiple of 256), the TILE
rows of a mirrored column fall into one or two of L1's 64 sets and evict each
other; there the blocked kernel computes whole rows instead (twice the square
roots, but the row loop's streaming writes).  Measured on one core (Zen 4,
SSE2 build), milliseconds for the full matrix:

    N        row loop   tiles   (tiles: TILE = 256)
    10000    124        88
    10112    128        112
    9984     124        120
    10240    130        229

On CPUs with AVX2 or AVX-512 the kernels run their vectorized clones
(_simd_kernels.h), where square roots are cheap and the row loop's contiguous
stores beat the tiles' mirrored ones at every N; there the blocked kernel always
computes whole rows (N = 10000, one Zen 4 core, AVX-512 clone: rows 65 ms,
tiles 83 ms).  Same bits either way.

The tiled kernels take the points as ``xy`` (2, N): x and y each contiguous.
Every entry point checks its arguments first (_checks.pxd, O(1)); the loops run unchecked.

Range: every entry is the plain sqrt(dx*dx + dy*dy) unless its square left
[2**-960, 2**960] (spurious underflow or overflow; the loops count such entries, a
compare per vector), and then it is recomputed scaled by a power of two (pp_hypot in
_simd_kernels.h, as math.hypot does): the same bits on ordinary inputs, the right
distance for points 1e-200 or 2e300 apart, inf only where the distance exceeds DBL_MAX.

Ctrl-C: rows (or tile rows) are taken a group at a time, some CHUNK entries per thread
(some 30 ms; shorter parallel regions cost measurably on a loaded machine, where a
descheduled thread holds the others at the closing barrier), and between groups the GIL
is taken back to let Python run its signal handlers (PyErr_CheckSignals):
KeyboardInterrupt within a tenth of a second at any N.
"""
from cython.parallel cimport prange

from cpython.exc cimport PyErr_CheckSignals
from cpython.pyport cimport PY_SSIZE_T_MAX

cimport _checks as check
from _openmp cimport PP_OPENMP

OPENMP = bool(PP_OPENMP)

cdef enum:
    PAGE = 512  # float64 values in a 4 KiB memory page
    TILE = 256  # points per tile side: while i runs over a tile, its mirrored writes fill 256 cache lines (16 KiB)
    ALIASING = 256  # N a multiple of this: mirrored columns thrash L1 (see above), rows are faster
    CHUNK = 1 << 25  # entries per thread between two checks for Ctrl-C


cdef inline Py_ssize_t _rows_per_check(Py_ssize_t n, int threads) noexcept nogil:
    """Rows of ``n`` entries that ``threads`` threads fill between two checks for Ctrl-C."""
    return max(1, CHUNK // max(n, 1)) * threads


# The row and tile kernels are C (_simd_kernels.h), built for AVX-512, AVX2 and
# baseline x86-64 and chosen for the CPU at load time; one dispatch per row or
# tile row.  No FMA in any of them, so all give the same bits.
cdef extern from "_simd_kernels.h" nogil:
    void pp_row_interleaved(const double *r, Py_ssize_t stride, double *d, Py_ssize_t n, Py_ssize_t i) noexcept
    void pp_distances(const double *x, const double *y, Py_ssize_t i, double *out,
                      Py_ssize_t start, Py_ssize_t stop) noexcept
    void pp_tile_row(const double *x, const double *y, double *d, Py_ssize_t n, Py_ssize_t i0,
                     Py_ssize_t tile, Py_ssize_t aliasing) noexcept
    # true when the vectorized (AVX2 or AVX-512) clones run: whole rows beat the tiles there
    bint pp_rows_are_faster() noexcept
    const int PP_MULTIVERSIONED

# True when the hot loops of _simd_kernels.h were built as GCC target_clones (AVX-512, AVX2 and
# baseline, one picked by the loader); False for the one plain path (see the header's guard).
CPU_CLONES = bool(PP_MULTIVERSIONED)


cdef inline void _row(const double[:, ::1] r, double[:, ::1] d, Py_ssize_t i) noexcept nogil:
    """Row i of D from the points ``r`` (N, 2)."""
    pp_row_interleaved(&r[0, 0], r.shape[1], &d[i, 0], r.shape[0], i)


cdef inline const double[:, ::1] _points(object r):
    """``r`` as (N, 2) points, checked."""
    cdef const double[:, ::1] view = check.doubles2(r, "r")
    check.shape2("r", view.shape[0], view.shape[1], -1, 2, "(N, 2)")
    return view


cdef inline const double[:, ::1] _columns(object xy):
    """``xy`` as (2, N) points (x then y, each contiguous), checked."""
    cdef const double[:, ::1] view = check.doubles2(xy, "xy")
    check.shape2("xy", view.shape[0], view.shape[1], 2, -1, "(2, N)")
    return view


cdef inline double[:, ::1] _matrix(object out, Py_ssize_t n, str note):
    """``out`` as the writable (N, N) matrix of ``n`` points, checked; ``note`` names the points."""
    cdef double[:, ::1] view = check.doubles2_out(out, "out")
    check.shape2("out", view.shape[0], view.shape[1], n, n, "(N, N)", note)
    return view


def c_distance_matrix(r, out):
    """Fill ``out`` (N, N) with the distances between the points ``r`` (N, 2)."""
    cdef const double[:, ::1] points = _points(r)
    cdef double[:, ::1] d = _matrix(out, points.shape[0], " for the N points of r")
    cdef Py_ssize_t i, first, n = points.shape[0], group = _rows_per_check(n, 1)
    for first in range(0, n, group):
        with nogil:
            for i in range(first, min(first + group, n)):
                _row(points, d, i)
        PyErr_CheckSignals()


def omp_distance_matrix(r, out, workers):
    """Same as :func:`c_distance_matrix`, rows shared among ``workers`` OpenMP threads."""
    cdef const double[:, ::1] points = _points(r)
    cdef double[:, ::1] d = _matrix(out, points.shape[0], " for the N points of r")
    cdef int threads = check.workers_count(workers)
    cdef Py_ssize_t i, first, last, n = points.shape[0], group = _rows_per_check(n, threads)
    for first in range(0, n, group):
        last = min(first + group, n)
        for i in prange(first, last, nogil=True, num_threads=threads, schedule="static"):
            _row(points, d, i)
        PyErr_CheckSignals()


cdef inline void _distances(const double *x, const double *y, Py_ssize_t i, double *out,
                            Py_ssize_t start, Py_ssize_t stop) noexcept nogil:
    """out[j] = distance from point i to point j, for j in [start, stop)."""
    pp_distances(x, y, i, out, start, stop)


cdef inline void _tile_row(const double *x, const double *y, double *d, Py_ssize_t n,
                           Py_ssize_t i0) noexcept nogil:
    """The tiles of rows [i0, i0 + TILE) on and right of the diagonal, with their mirrors.

    Within a tile the mirrored writes D[j, i0:i0 + TILE] go to TILE rows whose
    cache lines stay in L1 while i runs over the tile.  (Whole rows when N % ALIASING == 0.)
    """
    pp_tile_row(x, y, d, n, i0, TILE, ALIASING)


def blocked_distance_matrix(xy, out, workers):
    """Fill ``out`` (N, N) from the points ``xy`` (2, N), each pair computed once (unless N % ALIASING == 0).

    Rows of tiles are shared among ``workers`` OpenMP threads, largest first; whole rows,
    evenly, where the kernel computes rows.
    """
    cdef const double[:, ::1] points = _columns(xy)
    cdef Py_ssize_t n = points.shape[1], tiles = (n + TILE - 1) // TILE, t, page, i, first, last, group
    cdef double[:, ::1] matrix = _matrix(out, n, " for the N points of xy")
    cdef int threads = check.workers_count(workers)
    cdef Py_ssize_t pages = (n * n + PAGE - 1) // PAGE
    if n == 0:
        return
    cdef const double *x = &points[0, 0]
    cdef const double *y = &points[1, 0]
    cdef double *d = &matrix[0, 0]
    if n % ALIASING == 0 or pp_rows_are_faster():
        # Whole rows, split evenly (as the row loop): each thread first touches the pages it writes.
        group = _rows_per_check(n, threads)
        for first in range(0, n, group):
            last = min(first + group, n)
            for i in prange(first, last, nogil=True, num_threads=threads, schedule="static"):
                _distances(x, y, i, d + i * n, 0, n)
            PyErr_CheckSignals()
        return
    # First touch, split evenly: the column strip of the first tile row reaches every
    # page, so a fresh matrix would otherwise be faulted in (and zeroed) by one thread.
    group = max(1, CHUNK // 64) * threads  # pages (a fault and zeroing each: about a microsecond)
    for first in range(0, pages, group):
        last = min(first + group, pages)
        for page in prange(first, last, nogil=True, num_threads=threads, schedule="static"):
            d[page * PAGE] = 0.0
        PyErr_CheckSignals()
    group = max(1, CHUNK // (TILE * n)) * threads  # tile rows, TILE x (n - t * TILE) pairs each at most
    for first in range(0, tiles, group):
        last = min(first + group, tiles)
        for t in prange(first, last, nogil=True, num_threads=threads, schedule="dynamic"):
            _tile_row(x, y, d, n, t * TILE)
        PyErr_CheckSignals()


def distance_rows(xy, start, out, workers):
    """Fill ``out`` (M, N) with rows ``start`` to ``start + M`` of the distance matrix of ``xy`` (2, N)."""
    cdef const double[:, ::1] points = _columns(xy)
    cdef Py_ssize_t n = points.shape[1], k
    cdef double[:, ::1] block = check.doubles2_out(out, "out")
    check.shape2("out", block.shape[0], block.shape[1], -1, n, "(M, N)", " for the N points of xy, M <= N")
    cdef Py_ssize_t m = block.shape[0]
    if m > n:
        raise ValueError(f"out must have shape (M, N) with M <= N = {n} (rows of the N points of xy); "
                         f"got shape ({m}, {n})")
    cdef Py_ssize_t first = check.whole(start, "start", 0, PY_SSIZE_T_MAX, ">= 0")
    if first > n - m:
        raise ValueError(f"start must be an int from 0 to N - M = {n - m} (out holds M = {m} of the N = {n} rows); "
                         f"got {first}")
    cdef int threads = check.workers_count(workers)
    if m == 0:
        return
    cdef const double *x = &points[0, 0]
    cdef const double *y = &points[1, 0]
    cdef double *d = &block[0, 0]
    cdef Py_ssize_t done, last, group = _rows_per_check(n, threads)
    for done in range(0, m, group):
        last = min(done + group, m)
        for k in prange(done, last, nogil=True, num_threads=threads, schedule="static"):
            _distances(x, y, first + k, d + k * n, 0, n)
        PyErr_CheckSignals()


cdef extern from *:
    """
    /* Smallest (x[j] - xi)**2 + (y[j] - yi)**2 for j in [start, stop), +inf when empty.
       In C for its "omp simd" min reduction: without it (or -ffast-math) the compiler
       does not vectorize a floating-point min.  Squares are never NaN, so the order
       of the reduction does not change the result. */
    static double pp_min_squared(const double *x, const double *y, Py_ssize_t start, Py_ssize_t stop,
                                 double xi, double yi) {
        double best = INFINITY;
        #ifdef _OPENMP
        #pragma omp simd reduction(min:best)
        #endif
        for (Py_ssize_t j = start; j < stop; j++) {
            double dx = x[j] - xi, dy = y[j] - yi, s = dx * dx + dy * dy;
            best = s < best ? s : best;
        }
        return best;
    }

    /* Distance from point i to its nearest other point, +inf when there is none.  When the
       smallest square is out of the safe range (an underflow, an overflow, or a repeated
       point: rare), every distance again with pp_hypot where needed (_simd_kernels.h). */
    static double pp_nearest(const double *x, const double *y, Py_ssize_t n, Py_ssize_t i) {
        double below = pp_min_squared(x, y, 0, i, x[i], y[i]), above = pp_min_squared(x, y, i + 1, n, x[i], y[i]);
        double best = below < above ? below : above;
        if (!PP_OUT_OF_RANGE(best))
            return sqrt(best);
        best = INFINITY;
        for (Py_ssize_t j = 0; j < n; j++) {
            double dx = x[j] - x[i], dy = y[j] - y[i], s = dx * dx + dy * dy;
            double dist = PP_OUT_OF_RANGE(s) ? pp_hypot(dx, dy) : sqrt(s);
            if (j != i && dist < best)
                best = dist;
        }
        return best;
    }
    """
    double pp_nearest(const double *x, const double *y, Py_ssize_t n, Py_ssize_t i) noexcept nogil


def nearest_neighbor_distances(xy, out, workers):
    """Fill ``out`` (N,) with each point's distance to its nearest other point; O(N) memory.

    sqrt is correctly rounded and monotonic, so sqrt(min(s)) == min(sqrt(s)) exactly:
    the result equals the smallest off-diagonal entry of each row of the full matrix.
    """
    cdef const double[:, ::1] points = _columns(xy)
    cdef Py_ssize_t n = points.shape[1], i
    cdef double[::1] nearest = check.doubles1_out(out, "out")
    check.shape1("out", nearest.shape[0], n, "(N,)", " for the N points of xy")
    cdef int threads = check.workers_count(workers)
    if n == 0:
        return
    cdef const double *x = &points[0, 0]
    cdef const double *y = &points[1, 0]
    cdef Py_ssize_t first, last, group = _rows_per_check(n, threads)
    for first in range(0, n, group):
        last = min(first + group, n)
        for i in prange(first, last, nogil=True, num_threads=threads, schedule="static"):
            nearest[i] = pp_nearest(x, y, n, i)
        PyErr_CheckSignals()
