# cython: language_level=3
# Argument checks for the Python-visible (def) entry points of the compiled kernels.
#
# The kernels run with bounds checks off, so every def takes plain objects and turns them into
# typed values here first: O(1) each (a buffer acquisition, a shape or a range compared), never
# a pass over the data.  A bad argument is a ValueError or TypeError that names it and says what
# was expected, never a crash.  Cython's own conversion errors do not name the argument (and it
# lets None through as an empty view), hence these helpers.  Inline, so every module gets its copy.
from cpython.number cimport PyNumber_Index
from libc.limits cimport INT_MAX
from libc.stdint cimport int64_t, uint64_t, uintptr_t

from _openmp cimport omp_get_num_procs



cdef inline str _seen(object value):
    """What a bad argument is: an array's dtype and shape, else its type."""
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    if shape is not None and dtype is not None:
        return f"{dtype} array of shape {tuple(shape)}"
    return type(value).__name__


cdef inline object _buffer_error(object exc, str name, str expected, object value):
    """The error for ``value`` that is not the buffer ``expected``, of the class Cython raised."""
    kind = TypeError if isinstance(exc, TypeError) or value is None else ValueError
    reason = f" ({exc})" if exc is not None else ""
    return kind(f"{name} must be {expected}; got {_seen(value)}{reason}")


cdef inline int _aligned(const void *data, str name, str expected, object value) except -1:
    # the vectorized loops may assume 8-byte alignment; a view of a byte buffer at an odd offset breaks it
    if <uintptr_t> data % 8:
        raise ValueError(f"{name} must be {expected} aligned to 8 bytes; got an unaligned {_seen(value)}")
    return 0


cdef inline const double[:, ::1] doubles2(object value, str name):
    """``value`` as a read-only C-contiguous float64 view of 2 dimensions."""
    cdef const double[:, ::1] view
    cdef str expected = "a C-contiguous float64 array with 2 dimensions"
    if value is None:
        raise _buffer_error(None, name, expected, value)
    try:
        view = value
    except (TypeError, ValueError, BufferError) as exc:
        raise _buffer_error(exc, name, expected, value) from None
    if view.shape[0] and view.shape[1]:
        _aligned(&view[0, 0], name, expected, value)
    return view


cdef inline double[:, ::1] doubles2_out(object value, str name):
    """``value`` as a writable C-contiguous float64 view of 2 dimensions."""
    cdef double[:, ::1] view
    cdef str expected = "a writable C-contiguous float64 array with 2 dimensions"
    if value is None:
        raise _buffer_error(None, name, expected, value)
    try:
        view = value
    except (TypeError, ValueError, BufferError) as exc:
        raise _buffer_error(exc, name, expected, value) from None
    if view.shape[0] and view.shape[1]:
        _aligned(&view[0, 0], name, expected, value)
    return view


cdef inline const double[::1] doubles1(object value, str name):
    """``value`` as a read-only contiguous float64 view of 1 dimension."""
    cdef const double[::1] view
    cdef str expected = "a contiguous float64 array with 1 dimension"
    if value is None:
        raise _buffer_error(None, name, expected, value)
    try:
        view = value
    except (TypeError, ValueError, BufferError) as exc:
        raise _buffer_error(exc, name, expected, value) from None
    if view.shape[0]:
        _aligned(&view[0], name, expected, value)
    return view


cdef inline double[::1] doubles1_out(object value, str name):
    """``value`` as a writable contiguous float64 view of 1 dimension."""
    cdef double[::1] view
    cdef str expected = "a writable contiguous float64 array with 1 dimension"
    if value is None:
        raise _buffer_error(None, name, expected, value)
    try:
        view = value
    except (TypeError, ValueError, BufferError) as exc:
        raise _buffer_error(exc, name, expected, value) from None
    if view.shape[0]:
        _aligned(&view[0], name, expected, value)
    return view


cdef inline const int64_t[::1] int64s(object value, str name):
    """``value`` as a read-only contiguous int64 view of 1 dimension."""
    cdef const int64_t[::1] view
    cdef str expected = "a contiguous int64 array with 1 dimension"
    if value is None:
        raise _buffer_error(None, name, expected, value)
    try:
        view = value
    except (TypeError, ValueError, BufferError) as exc:
        raise _buffer_error(exc, name, expected, value) from None
    if view.shape[0]:
        _aligned(&view[0], name, expected, value)
    return view


cdef inline const uint64_t[::1] uint64s(object value, str name):
    """``value`` as a read-only contiguous uint64 view of 1 dimension."""
    cdef const uint64_t[::1] view
    cdef str expected = "a contiguous uint64 array with 1 dimension"
    if value is None:
        raise _buffer_error(None, name, expected, value)
    try:
        view = value
    except (TypeError, ValueError, BufferError) as exc:
        raise _buffer_error(exc, name, expected, value) from None
    if view.shape[0]:
        _aligned(&view[0], name, expected, value)
    return view


cdef inline str _wanted(str shape, tuple sizes):
    """``shape`` such as "(N, N)" and the sizes it must have (-1: any), as "(N, N) with N = 5"."""
    # plain loops: Cython cannot compile a generator expression inside an inline function of a .pxd
    cdef list known = []
    names = shape.strip("(,)").replace(" ", "").split(",")
    for i in range(len(sizes)):
        label = f"{names[i]} = {sizes[i]}"
        if sizes[i] >= 0 and not names[i].isdigit() and label not in known:
            known.append(label)
    return shape + (" with " + ", ".join(known) if known else "")


cdef inline int shape2(str name, Py_ssize_t rows, Py_ssize_t columns, Py_ssize_t want_rows,
                       Py_ssize_t want_columns, str shape, str note="") except -1:
    """Refuse a 2-D view of (rows, columns) unless it is (want_rows, want_columns); -1 means any."""
    if (want_rows >= 0 and rows != want_rows) or (want_columns >= 0 and columns != want_columns):
        raise ValueError(f"{name} must have shape {_wanted(shape, (want_rows, want_columns))}{note}; "
                         f"got shape ({rows}, {columns})")
    return 0


cdef inline int shape1(str name, Py_ssize_t size, Py_ssize_t want, str shape, str note="") except -1:
    """Refuse a 1-D view of ``size`` elements unless it has ``want``."""
    if size != want:
        raise ValueError(f"{name} must have shape {_wanted(shape, (want,))}{note}; got shape ({size},)")
    return 0


cdef inline Py_ssize_t whole(object value, str name, Py_ssize_t low, Py_ssize_t high, str expected) except? -1:
    """``value`` as an integer from ``low`` to ``high``; ``expected`` says so in words ("from 1 to ...")."""
    try:
        number = PyNumber_Index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int {expected}; got {type(value).__name__} {value!r}") from None
    if not low <= number <= high:
        raise ValueError(f"{name} must be an int {expected}; got {number}")
    return number


cdef inline int workers_count(object value) except -1:
    """OpenMP threads: an int from 1 to INT_MAX (num_threads is a C int; the kernels divide by it), clamped to
    the processors OpenMP sees, as the door clamps to the cores: a million threads cannot be started."""
    cdef int threads = <int> whole(value, "workers", 1, INT_MAX, "from 1 to 2**31 - 1")
    return min(threads, max(1, omp_get_num_procs()))


cdef inline uint64_t uint64(object value, str name) except? 0:
    """``value`` as an unsigned 64-bit integer, from 0 to 2**64 - 1."""
    try:
        number = PyNumber_Index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int from 0 to 2**64 - 1; got {type(value).__name__} {value!r}") from None
    if not 0 <= number <= 0xFFFFFFFFFFFFFFFF:
        raise ValueError(f"{name} must be an int from 0 to 2**64 - 1; got {number}")
    return number


cdef inline double real(object value, str name) except? -1.0:
    """``value`` as a C double: a float, an int or anything with ``__float__`` (not a string)."""
    cdef double number
    try:
        number = value
    except TypeError:
        raise TypeError(f"{name} must be a real number; got {type(value).__name__} {value!r}") from None
    return number
