"""The book's object API: Particle and ParticleSimulator."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # matplotlib is imported where used: an optional dependency
    from matplotlib.animation import FuncAnimation
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    from ..records import Backend


class Particle:
    """A particle at (x, y) moving at ``ang_speed`` around the origin.

    ``__slots__`` drops the per-instance dict (the book's memory lesson:
    100,000 particles took 25.7 MiB without it and 14.7 MiB with it).
    """

    __slots__ = ("x", "y", "ang_speed")

    def __init__(self, x: float, y: float, ang_speed: float) -> None:
        self.x = x
        self.y = y
        self.ang_speed = ang_speed

    def __repr__(self) -> str:
        return f"Particle(x={self.x!r}, y={self.y!r}, ang_speed={self.ang_speed!r})"


class ParticleSimulator:
    """Evolves a list of :class:`Particle` objects in place, as in the book."""

    def __init__(self, particles: Iterable[Particle]) -> None:
        particles = list(particles)
        for i, p in enumerate(particles):
            if not all(hasattr(p, name) for name in Particle.__slots__):
                raise TypeError(f"particles[{i}] must have x, y and ang_speed attributes; got {p!r}")
        self.particles = particles

    def evolve(self, dt: float, backend: str | Backend | None = None, *, timestep: float = 1e-5,
               workers: int | None = None) -> None:
        """Advance every particle by time ``dt`` (``dt / timestep`` Euler steps)."""
        from .evolution import evolve

        r = [(p.x, p.y) for p in self.particles] or np.empty((0, 2))
        ang_speed = [p.ang_speed for p in self.particles]
        new = evolve(r, ang_speed, dt, timestep=timestep, backend=backend, workers=workers)
        for p, (x, y) in zip(self.particles, new.tolist()):
            p.x, p.y = x, y


def visualize(simulator: ParticleSimulator, *, frames: int | None = None, backend: str | Backend | None = None,
              interval: int = 10, figure: Figure | None = None) -> FuncAnimation:
    """The book's animation: particles as red dots, ``simulator.evolve(0.01)`` every frame.

    Parameters
    ----------
    simulator : ParticleSimulator
        Evolved in place, one ``evolve(0.01)`` per frame drawn.
    frames : int, optional
        Number of frames (needed to save the animation); None animates forever.
    backend : str, optional
        The evolve backend of each step; None picks the fastest available.
    interval : int
        Milliseconds between frames (the book's 10).
    figure : matplotlib.figure.Figure, optional
        Where to draw; None makes a pyplot figure, so ``plt.show()`` shows
        it (the book's way).  Pass a bare ``Figure`` to save the animation
        without any window (``pytest-particles animate`` does).

    Returns
    -------
    matplotlib.animation.FuncAnimation
        Keep a reference to it while it plays; ``anim.save("p.gif",
        writer=PillowWriter())`` writes it to a file.  Axes (-1, 1) with equal
        aspect; drawn with blitting.
    """
    from matplotlib import animation

    if not isinstance(simulator, ParticleSimulator):
        raise TypeError(f"simulator must be a ParticleSimulator; got {type(simulator).__name__}")
    if frames is not None and (isinstance(frames, bool) or not isinstance(frames, int) or frames < 1):
        raise ValueError(f"frames must be None or a whole number >= 1; got {frames!r}")
    if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
        raise ValueError(f"interval must be a whole number of milliseconds >= 1; got {interval!r}")
    if figure is None:
        import matplotlib.pyplot as plt

        figure = plt.figure()
    elif figure.canvas is None or type(figure.canvas).__name__ == "FigureCanvasBase":
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg(figure)  # a bare Figure: draw and blit with Agg, no window
    ax = figure.add_subplot(111, aspect="equal")
    (line,) = ax.plot([p.x for p in simulator.particles], [p.y for p in simulator.particles], "ro")
    ax.set_xlim(-1, 1)
    ax.set_ylim(-1, 1)

    def init() -> tuple[Line2D]:
        line.set_data([], [])
        return (line,)

    def animate(i: int) -> tuple[Line2D]:
        simulator.evolve(0.01, backend=backend)
        line.set_data([p.x for p in simulator.particles], [p.y for p in simulator.particles])
        return (line,)

    return animation.FuncAnimation(figure, animate, frames=frames, init_func=init, blit=True, interval=interval,
                                   cache_frame_data=False)


def save_animation(path: str | os.PathLike[str], *, particles: int = 100, frames: int = 100,
                   backend: str | Backend | None = None, fps: int = 30, seed: int = 0) -> Path:
    """The book's animation of ``particles`` random particles written to the GIF ``path``; returns the Path.

    The particles are :func:`~pytest_particles.book.physics.particle_system`'s;
    each frame is one ``evolve(0.01)`` with ``backend``, drawn off-screen and
    written with matplotlib's PillowWriter (``pytest-particles animate``).
    """
    from matplotlib.animation import PillowWriter
    from matplotlib.figure import Figure

    from .physics import particle_system

    r, ang_speed = particle_system(particles, seed=seed)
    simulator = ParticleSimulator([Particle(x, y, s) for (x, y), s in zip(r.tolist(), ang_speed.tolist())])
    animation = visualize(simulator, frames=frames, backend=backend, figure=Figure())
    animation.save(Path(path), writer=PillowWriter(fps=fps))
    return Path(path)
