# The book's mathlib.pxd: small math helpers shared between .pyx files by cimport.
# Inline functions defined in a .pxd need no module of their own: every .pyx that
# cimports them gets its own copy, inlined by the C compiler.

cdef inline double max(double a, double b) noexcept nogil:
    return a if a > b else b


cdef inline double min(double a, double b) noexcept nogil:
    return a if a < b else b
