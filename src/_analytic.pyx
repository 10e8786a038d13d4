# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The Euler scheme's closed form: n steps in O(1) per particle, serial and OpenMP.

With h = timestep, s = ang_speed and d = s * h, each explicit Euler step moves a
particle at radius r_k by |d| perpendicular to its radius.  Two exact laws follow:

* r_{k+1}**2 = r_k**2 + d**2, so r_n = sqrt(r_0**2 + n d**2);
* step k turns the particle by atan(|d| / r_k) (counterclockwise when d > 0), so
  after n steps it has turned by Theta = sign(d) S(a, n), where

      S(a, n) = sum_{k=0}^{n-1} f(a + k),   f(u) = atan(u**-1/2),   a = r_0**2 / d**2.

The new position is the initial vector scaled by r_n / r_0 and rotated by Theta.

S(a, n) in O(1)
---------------
The first m terms, those with a + k < SWITCH = 20 (a particle that starts within
sqrt(20) |d| of the origin), are summed directly.  The rest, from u1 = a + m to
u2 = a + n, by the Euler-Maclaurin formula with six Bernoulli terms:

    sum_{k=m}^{n-1} f(a + k) = F(u2) - F(u1) + (f(u1) - f(u2)) / 2
                               + sum_{j=1}^{6} B_2j / (2j)! (f^(2j-1)(u2) - f^(2j-1)(u1)) + R,

with the antiderivative F(u) = (u + 1) atan(u**-1/2) + sqrt(u) - pi/2 and, for
u1 >= 20, |R| <= 2 zeta(13) / (2 pi)**13 |f^(12)(u1)| < 3e-19.  The derivatives
are f^(m)(u) = s**(2m+1) P_m(t) / (1 + t)**m with s = u**-1/2, t = 1/u (P_m
derived with sympy, exact rational coefficients).  All of it but the 2 sqrt(u)
of F is s times a power series in t; collecting the terms (sympy, offline):

    sum_{k=m}^{n-1} f(a + k) = 2 (sqrt(u2) - sqrt(u1)) + s2 Q(t2) - s1 Q(t1),

    Q(t) = 1/6 - t/120 - t**2/840 + 5 t**3/8064 + t**4/4224 - ...   (QCOEF, degree 13),

cut where the terms left out stay below 1e-19 for t <= 1/20 (degree 13), t <= 1e-4
(degree 4) and t <= 1e-7 (degree 2).  The one large term is computed without
cancellation, sqrt(u2) - sqrt(u1) = (n - m) / (sqrt(u1) + sqrt(u2)), with n - m
taken from the integers, and in the scheme's own units (sqrt(a + k) = r_k / |d|).

Precision
---------
Theta may be large (about 2 sqrt(n) for a particle that starts near the origin,
n |d| / r_0 far from it) and only its value modulo 2 pi matters.  When the turn
exceeds 1 radian its large parts are carried in double-double arithmetic
(error-free transformations; the build's -ffp-contract=off keeps them exact):
r_0**2 = x0**2 + y0**2 exactly, r_m and r_n, their sum, the quotient above and the
compensated direct sum; Theta is then reduced modulo 2 pi (2 pi as a
double-double) before its cosine and sine are taken.  The small parts (s Q(t), the
terms of the direct sum) are plain doubles; so is everything when the turn is at
most 1 radian, where doubles are already as accurate.  So the turn is known to a
few 1e-16 radians whatever its size, and the position to a few ulps of r_n: the
scheme's exact answer, closer to it than the iterated float64 scheme, whose
rounding error grows with the step count.
"""
from cython.parallel cimport prange
from libc.math cimport atan2, cos, fabs, hypot, ilogb, ldexp, sin, sqrt

cimport _checks as check
from _openmp cimport PP_OPENMP

OPENMP = bool(PP_OPENMP)

cdef double SWITCH = 20.0    # Euler-Maclaurin from u = a + k >= SWITCH on; below it, direct terms
cdef double TINY_Q = 1e-60   # |d| / r0 below this: every step turns by |d| / r0 to the last bit
cdef double HUGE_Q = 1e100   # |d| / r0 above this: a = r0**2 / d**2 < 1e-200 counts as 0
cdef double SPLITTER = 134217729.0  # 2**27 + 1, Dekker's split
cdef double TWO_PI_HI = 6.283185307179586
cdef double TWO_PI_LO = 2.4492935982947064e-16  # 2 pi - TWO_PI_HI, to 6e-33
cdef double INV_TWO_PI = 0.15915494309189535
cdef double ROUNDER = 6755399441055744.0  # 1.5 * 2**52: (x + ROUNDER) - ROUNDER rounds x to an integer

# Particles per thread below which a parallel region costs more than it saves
# (a particle takes 0.03 to 0.1 us; waking threads on a busy machine tens of us).
cdef Py_ssize_t PARALLEL_MIN = 4096
MIN_PER_THREAD = PARALLEL_MIN
SWITCH_AT = SWITCH

# Q(t), lowest power first: the exact rationals 1/6, -1/120, -1/840, 5/8064, 1/4224,
# -521/2196480, -29/199680, 1067/5013504, 13221/74088448, -538019/1568931840,
# -692393/1899233280, 2088537/2411724800, 3155999/2831155200, 10686835/1094713344.
cdef double QCOEF[14]
QCOEF[:] = [1.0 / 6, -1.0 / 120, -1.0 / 840, 5.0 / 8064, 1.0 / 4224, -521.0 / 2196480, -29.0 / 199680,
            1067.0 / 5013504, 13221.0 / 74088448, -538019.0 / 1568931840, -692393.0 / 1899233280,
            2088537.0 / 2411724800, 3155999.0 / 2831155200, 10686835.0 / 1094713344]


# --- double-double arithmetic: a value is hi + lo with |lo| <= ulp(hi) / 2 -----------------------

cdef struct dd:
    double hi
    double lo


cdef inline dd _two_sum(double a, double b) noexcept nogil:
    cdef dd r
    cdef double bb
    r.hi = a + b
    bb = r.hi - a
    r.lo = (a - (r.hi - bb)) + (b - bb)
    return r


cdef inline dd _fast_two_sum(double a, double b) noexcept nogil:  # |a| >= |b|
    cdef dd r
    r.hi = a + b
    r.lo = b - (r.hi - a)
    return r


cdef inline dd _two_prod(double a, double b) noexcept nogil:
    cdef dd r
    cdef double c, ah, al, bh, bl
    r.hi = a * b
    c = SPLITTER * a
    ah = c - (c - a)
    al = a - ah
    c = SPLITTER * b
    bh = c - (c - b)
    bl = b - bh
    r.lo = ((ah * bh - r.hi) + ah * bl + al * bh) + al * bl
    return r


cdef inline dd _add(dd a, dd b) noexcept nogil:
    cdef dd s = _two_sum(a.hi, b.hi)
    return _fast_two_sum(s.hi, s.lo + (a.lo + b.lo))


cdef inline dd _div(dd a, dd b) noexcept nogil:
    """a / b; the first quotient need not be correctly rounded: the remainder is exact."""
    cdef double inv = 1.0 / b.hi
    cdef double q1 = a.hi * inv
    cdef dd p = _two_prod(q1, b.hi)
    cdef double rem = (((a.hi - p.hi) - p.lo) + a.lo) - q1 * b.lo
    return _fast_two_sum(q1, rem * inv)


cdef inline dd _sqrt(dd a, double* inverse) noexcept nogil:
    """sqrt(a) for a > 0, and 1 / sqrt(a) to about an ulp in ``inverse``."""
    cdef double h = sqrt(a.hi)
    cdef double inv = 1.0 / h
    cdef dd p = _two_prod(h, h)
    inverse[0] = inv
    return _fast_two_sum(h, (((a.hi - p.hi) - p.lo) + a.lo) * (0.5 * inv))


cdef inline dd _mul(dd a, dd b) noexcept nogil:
    cdef dd p = _two_prod(a.hi, b.hi)
    return _fast_two_sum(p.hi, p.lo + (a.hi * b.lo + a.lo * b.hi))


cdef inline dd _from_count(Py_ssize_t n) noexcept nogil:
    """An int64 count as a double-double, exactly."""
    cdef dd r
    r.hi = <double> n
    r.lo = <double> (n - <Py_ssize_t> r.hi)  # n < 2**63 - 1024: the cast back does not overflow
    return r


# --- the sum of the turns ------------------------------------------------------------------------

cdef inline double _q_series(double t, int degree) noexcept nogil:
    cdef double p = QCOEF[degree]
    cdef int i
    for i in range(degree - 1, -1, -1):
        p = p * t + QCOEF[i]
    return p


cdef inline int _degree(double u1) noexcept nogil:
    """Degree of Q for t <= 1 / u1: the first term left out stays below 1e-19."""
    if u1 >= 1e7:
        return 2
    if u1 >= 1e4:
        return 4
    return 13


cdef dd _turn(dd r0sq, double dabs, double a, Py_ssize_t n) noexcept nogil:
    """S(a, n) = sum_{k=0}^{n-1} atan(1 / sqrt(a + k)) as a double-double, a = r0sq / dabs**2 > 0.

    In the scheme's own units: the radii r_k = sqrt(r0sq + k dabs**2), sqrt(a + k) = r_k / dabs.
    ``a`` (a double) serves the direct terms; the large part comes from r0sq and dabs exactly.
    """
    cdef Py_ssize_t m = 0
    cdef dd total, dsq, rm, rn, gap
    cdef double s1, s2, small
    cdef int degree
    total.hi = 0.0
    total.lo = 0.0
    while m < n and a + <double> m < SWITCH:
        total = _add(total, _fast_two_sum(atan2(1.0, sqrt(a + <double> m)), 0.0))
        m += 1
    if m == n:
        return total
    dsq = _two_prod(dabs, dabs)
    if m == 0:
        rm = _sqrt(r0sq, &s1)                              # r_0
    else:
        rm = _sqrt(_add(r0sq, _mul(_from_count(m), dsq)), &s1)   # r_m
    rn = _sqrt(_add(r0sq, _mul(_from_count(n), dsq)), &s2)       # r_n
    # 2 (sqrt(a + n) - sqrt(a + m)) = 2 (n - m) dabs / (r_m + r_n): no cancellation
    gap = _div(_mul(_from_count(n - m), _fast_two_sum(2.0 * dabs, 0.0)), _add(rm, rn))
    s1 = dabs * s1                                         # (a + m)**-1/2
    s2 = dabs * s2                                         # (a + n)**-1/2
    degree = _degree(a + <double> m)
    small = s2 * _q_series(s2 * s2, degree) - s1 * _q_series(s1 * s1, degree)
    return _add(total, _add(gap, _fast_two_sum(small, 0.0)))


cdef double _small_turn(double a, Py_ssize_t n) noexcept nogil:
    """S(a, n) in plain doubles, for a >= SWITCH and S <= n / sqrt(a) <= 1 (then its error is below 1e-16)."""
    cdef double u1 = a, u2 = a + <double> n
    cdef double root1 = sqrt(u1), root2 = sqrt(u2)
    cdef int degree = _degree(u1)
    return (2.0 * (<double> n / (root1 + root2))
            + (_q_series(1.0 / u2, degree) / root2 - _q_series(1.0 / u1, degree) / root1))


cdef double _reduce(dd theta) noexcept nogil:
    """theta modulo 2 pi, within pi of 0 give or take 1e-15, to about 1e-16 (|theta| < 2**40)."""
    cdef double k
    cdef dd multiple
    if fabs(theta.hi) <= 3.0:
        return theta.hi + theta.lo
    k = (theta.hi * INV_TWO_PI + ROUNDER) - ROUNDER   # the integer nearest theta / 2 pi, no libm call
    multiple = _two_prod(k, TWO_PI_HI)             # exact
    multiple.lo = multiple.lo + k * TWO_PI_LO      # k < 2**40: error < 1e-19
    multiple.hi = -multiple.hi
    multiple.lo = -multiple.lo
    theta = _add(theta, multiple)
    return theta.hi + theta.lo


cdef void _advance(double* x, double* y, double d, Py_ssize_t n) noexcept nogil:
    """Move one particle from (x, y) by n steps of length d (the scheme's closed form)."""
    cdef double x0 = x[0], y0 = y[0]
    cdef double r0sq, r0, q, theta, c, sn, ratio, rn, ex, ey, sx, sy, sd
    cdef int e
    cdef dd sq
    if n == 0 or d == 0.0:
        return
    r0sq = x0 * x0 + y0 * y0
    if 1e-290 < r0sq < 1e290:
        r0 = sqrt(r0sq)
    else:  # x*x + y*y would lose bits to underflow or overflow
        r0 = hypot(x0, y0)
    q = fabs(d) / r0                                   # = a**-1/2
    if q < TINY_Q:
        theta = <double> n * q                         # n q**2 < 1e-101: atan(q / sqrt(1 + k q**2)) = q
    elif <double> n * q <= 1.0 and q * q * SWITCH <= 1.0:
        theta = _small_turn(1.0 / (q * q), n)          # the turn is at most n q <= 1: doubles suffice
    else:
        sx = x0
        sy = y0
        sd = fabs(d)
        if not (1e-50 < sd < 1e50):  # scale by a power of two (exact) so that no square leaves the range
            e = ilogb(sd)
            sx = ldexp(x0, -e)
            sy = ldexp(y0, -e)
            sd = ldexp(sd, -e)
        if q > HUGE_Q:  # a = r0**2 / d**2 < 1e-200 counts as 0
            sq.hi = 0.0
            sq.lo = 0.0
        else:
            sq = _add(_two_prod(sx, sx), _two_prod(sy, sy))
        theta = _reduce(_turn(sq, sd, 1.0 / (q * q), n))             # in [-pi, pi]: its sign is not the turn's
    if d < 0.0:
        theta = -theta
    c = cos(theta)
    sn = sin(theta)
    if q <= 1.0:
        ratio = sqrt(1.0 + <double> n * (q * q))       # r_n / r_0
        x[0] = ratio * (x0 * c - y0 * sn)
        y[0] = ratio * (x0 * sn + y0 * c)
    else:  # near the origin: r_n / r_0 may overflow while r_n does not
        rn = fabs(d) * sqrt(<double> n + 1.0 / (q * q))
        ex = x0 / r0
        ey = y0 / r0
        x[0] = rn * (ex * c - ey * sn)
        y[0] = rn * (ex * sn + ey * c)


cdef Py_ssize_t MAX_STEPS = (<Py_ssize_t> 1) << 62  # _from_count and the reduction hold up to here


def turn(a, n):
    """S(a, n) = sum_{k=0}^{n-1} atan(1 / sqrt(a + k)) in O(1), for a float a >= 0 and 0 <= n <= 2**62.

    Returns the float nearest the double-double result (the backend keeps both parts).
    """
    cdef double base = check.real(a, "a")
    cdef Py_ssize_t count
    cdef dd value
    if not base >= 0:
        raise ValueError(f"a must be a number >= 0; got {base!r}")
    count = check.whole(n, "n", 0, MAX_STEPS, "from 0 to 2**62")
    value.hi = base
    value.lo = 0.0
    value = _turn(value, 1.0, base, count)
    return value.hi + value.lo


def c_analytic(r, ang_speed, timestep, nsteps, workers=1):
    """Advance positions ``r`` (N, 2) in place by ``nsteps`` Euler steps, in closed form.

    Particles are shared among ``workers`` OpenMP threads when there are at
    least PARALLEL_MIN per thread; every particle is computed by the same code
    either way, so the result does not depend on ``workers``.
    """
    cdef double[:, ::1] positions = check.doubles2_out(r, "r")
    check.shape2("r", positions.shape[0], positions.shape[1], -1, 2, "(N, 2)")
    cdef Py_ssize_t i, n = positions.shape[0]
    cdef const double[::1] speeds = check.doubles1(ang_speed, "ang_speed")
    check.shape1("ang_speed", speeds.shape[0], n, "(N,)", ", one per row of r")
    cdef double step = check.real(timestep, "timestep")
    cdef Py_ssize_t steps = check.whole(nsteps, "nsteps", 0, MAX_STEPS, "from 0 to 2**62")
    cdef int threads = check.workers_count(workers)
    if n < PARALLEL_MIN * 2:
        threads = 1
    elif n < PARALLEL_MIN * threads:
        threads = <int> (n // PARALLEL_MIN)
    if threads == 1 or not PP_OPENMP:
        with nogil:
            for i in range(n):
                _advance(&positions[i, 0], &positions[i, 1], step * speeds[i], steps)
    else:
        for i in prange(n, nogil=True, num_threads=threads, schedule="static"):
            _advance(&positions[i, 0], &positions[i, 1], step * speeds[i], steps)
