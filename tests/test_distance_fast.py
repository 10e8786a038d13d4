"""The fast distance kernels: the symmetric tiled backend, out=, row blocks and nearest neighbours."""

import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
from conftest import system

import pytest_particles as pp
from pytest_particles import registry, validation
from pytest_particles.book import distance, physics

TILE = 256  # the tile side in src/_distance.pyx; N a multiple of it takes the row path
SIZES = [1, 2, 3, 65, TILE - 1, TILE, TILE + 1, 2 * TILE, 2 * TILE + 7, 5 * TILE - 3]


def require(name):
    """Skip unless the distance_matrix backend ``name`` can run here."""
    record = {b.name: b for b in pp.backends("distance_matrix")}[name]
    if not record.available:
        pytest.skip(record.reason)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("workers", [1, 2, 3])
def test_blocked_is_exactly_the_row_loop_and_symmetric(n, workers):
    require("blocked")
    r, _ = system(n, seed=n)
    d = pp.distance_matrix(r, backend="blocked", workers=workers)
    physics.check_distance_matrix(d, r, samples=10_000)
    np.testing.assert_array_equal(d, d.T)  # each pair computed once, so exactly symmetric
    np.testing.assert_array_equal(np.diag(d), 0.0)
    np.testing.assert_array_equal(d, pp.distance_matrix(r, backend="cython"))  # same bits


def test_blocked_far_apart_and_repeated_points():
    require("blocked")
    r = np.array([[1e150, -1e150], [-1e150, 1e150], [0.5, 0.5], [0.5, 0.5], [3e-310, 0.0]] * 30)
    d = pp.distance_matrix(r, backend="blocked")
    np.testing.assert_array_equal(d, pp.distance_matrix(r, backend="numpy"))
    assert d[0, 1] == np.hypot(2e150, 2e150) and d[2, 3] == 0.0


def test_numba_is_exactly_the_row_loop():
    require("numba")
    r, _ = system(2 * TILE + 7, seed=5)
    np.testing.assert_array_equal(pp.distance_matrix(r, backend="numba"), pp.distance_matrix(r, backend="cython"))


def test_default_backend_is_blocked():
    require("blocked")
    assert registry.lookup("distance_matrix", None).name == "blocked"


def test_numba_is_imported_only_when_a_numba_backend_runs():
    code = (
        "import sys, pytest_particles as pp; from pytest_particles.book import distance\n"
        "pp.distance_matrix([[0, 0], [3, 4]]); pp.monte_carlo_pi(100, seed=1)\n"
        "list(distance.distance_matrix_blocks([[0, 0]])); distance.nearest_neighbor_distances([[0, 0]])\n"
        "assert 'numba' not in sys.modules, 'numba was imported'"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr


# out=: a reused buffer


@pytest.mark.kernel("distance_matrix")
@pytest.mark.parametrize("n", [1, TILE + 1])
def test_out_is_filled_and_returned(backend, n):
    r, _ = system(n, seed=7)
    expected = pp.distance_matrix(r, backend="numpy")
    buffer = np.full((n, n), np.nan)
    for _ in range(2):  # reused: the second call overwrites the first
        got = backend(r, out=buffer)
        assert got is buffer
        np.testing.assert_allclose(buffer, expected, rtol=1e-14, atol=1e-15)
        buffer[:] = -1.0


def test_out_reaches_backends_that_declare_it_and_is_copied_into_for_the_others(isolated_registry):
    seen = {}

    def writes_in_place(r, out=None):
        seen["out"] = out
        result = distance.distance_matrix_numpy(r)
        if out is None:
            return result
        out[:] = result
        return out

    def allocates(r):
        return distance.distance_matrix_numpy(r)

    def returns_another_array(r, workers, out=None):  # declares out but ignores it
        seen["workers"] = workers
        return distance.distance_matrix_numpy(r)

    pp.register_backend("distance_matrix", "in_place", writes_in_place)
    pp.register_backend("distance_matrix", "allocating", allocates)
    pp.register_backend("distance_matrix", "ignores_out", returns_another_array)
    r, _ = system(5, seed=1)
    expected = pp.distance_matrix(r, backend="numpy")
    for name in ("in_place", "allocating", "ignores_out"):
        buffer = np.empty((5, 5))
        assert pp.distance_matrix(r, backend=name, out=buffer, workers=3) is buffer
        np.testing.assert_array_equal(buffer, expected)
    assert seen["out"] is not None and seen["workers"] == pp.validation.workers(3)  # clamped to the cores
    assert pp.distance_matrix(r, backend="in_place") is not None and seen["out"] is None  # no out: it allocates


def test_out_empty_input():
    buffer = np.empty((0, 0))
    assert pp.distance_matrix(np.empty((0, 2)), out=buffer) is buffer


def test_out_skips_the_memory_check_only_when_the_backend_writes_in_place(monkeypatch):
    require("blocked")
    r, _ = system(50, seed=2)
    buffer = np.empty((50, 50))
    monkeypatch.setattr(validation, "available_memory", lambda: 1000)  # less than one 50 x 50 matrix
    assert pp.distance_matrix(r, backend="blocked", out=buffer) is buffer  # nothing new to allocate
    with pytest.raises(MemoryError, match="50 x 50 float64 distance matrix"):
        pp.distance_matrix(r, backend="numpy", out=buffer)  # numpy allocates its own result first


R4, _ = system(4, seed=0)
_SHARED = np.zeros((4, 4))  # r below is a view of it
_BYTES = np.zeros(4 * 4 * 8 + 1, dtype=np.uint8)
_READ_ONLY = np.zeros((4, 4))
_READ_ONLY.flags.writeable = False

BAD_OUT = [
    ([[0.0] * 4] * 4, TypeError, r"out must be None or a numpy.ndarray of float64 with shape \(4, 4\); got list"),
    (np.zeros((4, 4), dtype=np.float32), TypeError, r"out must have dtype float64 .*; got dtype <f4"),
    (np.zeros((4, 4), dtype=np.int64), TypeError, r"out must have dtype float64"),
    (np.zeros((4, 4), dtype=">f8"), TypeError, r"out must have dtype float64 \(native byte order\); got dtype >f8"),
    (np.zeros((4, 5)), ValueError, r"out must have shape \(4, 4\) for 4 points; got shape \(4, 5\)"),
    (np.zeros(16), ValueError, r"out must have shape \(4, 4\) for 4 points; got shape \(16,\)"),
    (np.zeros((3, 3)), ValueError, r"out must have shape \(4, 4\)"),
    (np.zeros((4, 8))[:, ::2], ValueError, r"out must be C-contiguous"),
    (np.asfortranarray(np.zeros((4, 5)))[:, :4], ValueError, r"out must be C-contiguous"),
    (_BYTES[1:].view(np.float64).reshape(4, 4), ValueError, r"out must be aligned"),
    (_READ_ONLY, ValueError, r"out must be writable"),
]


@pytest.mark.parametrize("out, error, message", BAD_OUT)
def test_bad_out_is_refused_at_the_door(out, error, message):
    with pytest.raises(error, match=message):
        pp.distance_matrix(R4, out=out)


@pytest.mark.parametrize(
    "r, out",
    [(_SHARED[:, :2], _SHARED), (_SHARED.reshape(-1)[8:].reshape(4, 2), _SHARED), (memoryview(_SHARED[:, 2:]), _SHARED)],
    ids=["columns", "flat-view", "buffer"],
)
def test_out_sharing_memory_with_r_is_refused(r, out):
    with pytest.raises(ValueError, match=r"out must not share memory with r"):
        pp.distance_matrix(r, out=out)
    np.testing.assert_array_equal(_SHARED, 0.0)  # untouched


def test_out_next_to_r_in_one_buffer_is_fine():
    buffer = np.zeros(16 + 8)
    r, out = buffer[16:].reshape(4, 2), buffer[:16].reshape(4, 4)
    r[:] = R4
    assert pp.distance_matrix(r, out=out) is out
    np.testing.assert_allclose(out, pp.distance_matrix(R4), rtol=1e-15)


# row blocks and nearest neighbours, never N x N


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("rows", [1, 7, TILE, 10**6, None])
def test_blocks_tile_the_full_matrix(n, rows):
    r, _ = system(n, seed=n + 1)
    full = pp.distance_matrix(r, backend="cython")
    stops, blocks = [0], []
    for start, stop, block in distance.distance_matrix_blocks(r, rows=rows, workers=2):
        assert start == stops[-1] and stop > start and block.shape == (stop - start, n)
        stops.append(stop)
        blocks.append(block)
    assert stops[-1] == n and len(blocks) == -(-n // min(rows or n, n))
    np.testing.assert_array_equal(np.vstack(blocks), full)


def test_blocks_default_rows_follow_the_byte_budget(monkeypatch):
    monkeypatch.setattr(distance, "BLOCK_BYTES", 8 * 300 * 25)  # 25 rows of 300 points
    r, _ = system(300, seed=3)
    shapes = [block.shape for _, _, block in distance.distance_matrix_blocks(r)]
    assert shapes == [(25, 300)] * 12


def test_blocks_are_checked_before_the_first_block():
    with pytest.raises(ValueError, match=r"r must have shape \(N, 2\)"):
        distance.distance_matrix_blocks(np.zeros(3))  # no next() needed
    for rows, error in [(0, ValueError), (-2, ValueError), (1.5, TypeError), (True, TypeError), ("3", TypeError)]:
        with pytest.raises(error, match=r"rows must be None or an int >= 1"):
            distance.distance_matrix_blocks(R4, rows=rows)
    with pytest.raises(ValueError, match=r"workers must be None or an int >= 1"):
        distance.distance_matrix_blocks(R4, workers=0)
    assert list(distance.distance_matrix_blocks(np.empty((0, 2)))) == []


def test_blocks_refuse_a_block_larger_than_memory(monkeypatch):
    monkeypatch.setattr(validation, "available_memory", lambda: 10_000)
    with pytest.raises(MemoryError, match=r"a block of 1000 x 1000 float64 distances needs"):
        distance.distance_matrix_blocks(np.ones((1000, 2)), rows=1000)


def reference_nearest(r):
    d = pp.distance_matrix(r, backend="numpy")
    np.fill_diagonal(d, np.inf)
    return d.min(axis=1)


@pytest.mark.parametrize("n", SIZES)
def test_nearest_neighbor_distances_are_the_row_minima(n):
    r, _ = system(n, seed=n + 2)
    expected = reference_nearest(r)
    for workers in (1, 2, 3):
        np.testing.assert_array_equal(distance.nearest_neighbor_distances(r, workers=workers), expected)


def test_nearest_neighbor_special_cases():
    assert distance.nearest_neighbor_distances([[0.3, 0.4]]).tolist() == [np.inf]  # no other point
    assert distance.nearest_neighbor_distances(np.empty((0, 2))).shape == (0,)
    np.testing.assert_array_equal(distance.nearest_neighbor_distances([[0, 0], [3, 4], [0, 0]]), [0, 5, 0])
    with pytest.raises(ValueError, match=r"r must be finite"):
        distance.nearest_neighbor_distances([[0.0, np.nan]])
    with pytest.raises(TypeError, match=r"workers must be None or an int"):
        distance.nearest_neighbor_distances(R4, workers=2.0)


def test_numpy_fallback_without_the_extension(monkeypatch):
    r, _ = system(150, seed=9)
    blocks = np.vstack([b for _, _, b in distance.distance_matrix_blocks(r, rows=40)])
    nearest = distance.nearest_neighbor_distances(r)
    monkeypatch.setattr(distance._compiled, "module", None)
    np.testing.assert_array_equal(np.vstack([b for _, _, b in distance.distance_matrix_blocks(r, rows=40)]), blocks)
    np.testing.assert_array_equal(distance.nearest_neighbor_distances(r), nearest)


def test_blocks_and_nearest_neighbours_never_hold_the_full_matrix():
    n = 2000  # the full matrix would be 32 MB
    r, _ = system(n, seed=4)
    full_bytes = n * n * 8
    tracemalloc.start()  # numpy reports its array buffers to tracemalloc
    try:
        tracemalloc.reset_peak()
        distance.nearest_neighbor_distances(r)
        nearest_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        for _start, _stop, _block in distance.distance_matrix_blocks(r, rows=50):
            pass
        del _block
        blocks_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert nearest_peak < full_bytes / 100
    assert blocks_peak < 3 * 50 * n * 8 + full_bytes / 100  # a loop holds at most two blocks at once


def test_full_matrix_refused_but_nearest_neighbours_work_when_memory_is_short(monkeypatch):
    r, _ = system(1000, seed=6)
    expected = reference_nearest(r)
    monkeypatch.setattr(validation, "available_memory", lambda: 2**20)  # 1 MiB: N x N needs 8 MB
    with pytest.raises(MemoryError, match=r"a 1000 x 1000 float64 distance matrix needs"):
        pp.distance_matrix(r)
    np.testing.assert_array_equal(distance.nearest_neighbor_distances(r), expected)
