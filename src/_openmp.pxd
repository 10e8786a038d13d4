# Shared OpenMP declarations that compile with and without -fopenmp.
# Without OpenMP, prange runs serially and these fallbacks answer for one thread.
cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define PP_OPENMP 1
    #else
    #define PP_OPENMP 0
    static int omp_get_max_threads(void) { return 1; }
    static int omp_get_num_procs(void) { return 1; }
    #endif
    """
    const int PP_OPENMP
    int omp_get_max_threads() nogil
    int omp_get_num_procs() nogil
