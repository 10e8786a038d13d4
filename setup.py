"""Build the Cython extensions; everything else lives in pyproject.toml.

OpenMP is detected by compiling a tiny ``#pragma omp parallel`` program (the
scikit-learn way).  When the compiler refuses it, the extensions are built
serially and the ``openmp`` backends report themselves unavailable.  Set
``PYTEST_PARTICLES_NO_OPENMP=1`` to force the serial build.

The hot loops of src/_simd_kernels.h are built as GCC target_clones (AVX-512,
AVX2, baseline; one picked at load time) where the compiler and C library allow
it (the header's guard); ``PYTEST_PARTICLES_NO_CLONES=1`` forces the one plain
path.  The Cython directives are in each .pyx file's header comment.
"""

import os
import sys
import tempfile
import textwrap
import warnings

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

OPENMP_FLAG = "-fopenmp"
# -ffp-contract=off: no fused multiply-add, so compiled kernels round exactly
# as NumPy does and backends can be compared bit for bit on any CPU.
BASE_FLAGS = ["-O3", "-ffp-contract=off", "-fno-math-errno"]
# Every src/NAME.pyx becomes the private module pytest_particles.NAME.
MODULES = sorted(os.path.splitext(name)[0] for name in os.listdir("src") if name.endswith(".pyx"))


def _env_flag(name):
    return os.environ.get(name, "") not in ("", "0")


def openmp_supported(compiler):
    """Return True when ``compiler`` builds and links an OpenMP program."""
    if _env_flag("PYTEST_PARTICLES_NO_OPENMP"):
        return False
    code = textwrap.dedent(
        """
        #include <omp.h>
        int main(void) {
            int n = 0;
            #pragma omp parallel reduction(+:n)
            n += 1;
            return n > 0 ? 0 : 1;
        }
        """
    )
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "test_openmp.c")
        with open(source, "w") as f:
            f.write(code)
        try:
            objects = compiler.compile([source], output_dir=tmp, extra_postargs=[OPENMP_FLAG])
            compiler.link_executable(objects, "test_openmp", output_dir=tmp, extra_postargs=[OPENMP_FLAG])
        except Exception:  # any compiler or linker failure means "no OpenMP"
            return False
    return True


class BuildExt(build_ext):
    """build_ext that adds -fopenmp only where the compiler supports it, and the no-clones switch."""

    def build_extensions(self):
        use_openmp = openmp_supported(self.compiler)
        if not use_openmp:
            warnings.warn(
                "pytest-particles: the C compiler does not support OpenMP; building the "
                "extensions serially. The 'openmp' backends will be unavailable.",
                stacklevel=1,
            )
            print("*** pytest-particles: building WITHOUT OpenMP ***", file=sys.stderr)
        extra = [OPENMP_FLAG] if use_openmp else []
        clones = [] if not _env_flag("PYTEST_PARTICLES_NO_CLONES") else [("PYTEST_PARTICLES_NO_CLONES", "1")]
        for ext in self.extensions:
            ext.extra_compile_args = BASE_FLAGS + extra
            ext.extra_link_args = extra
            ext.define_macros = ext.define_macros + clones
        super().build_extensions()


extensions = [
    Extension(
        f"pytest_particles.{name}",
        [f"src/{name}.pyx"],
        include_dirs=[numpy.get_include(), "src"],
        # the C headers and Cython definitions every module may include: rebuild when they change
        depends=sorted(f"src/{name}" for name in os.listdir("src") if name.endswith((".h", ".pxd"))),
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_2_0_API_VERSION")],
    )
    for name in MODULES
]

setup(
    ext_modules=cythonize(extensions, include_path=["src"]),
    cmdclass={"build_ext": BuildExt},
)
