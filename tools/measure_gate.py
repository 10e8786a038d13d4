"""Measure the pre-merge gate: false alarms on identical code, detections of injected slowdowns.

    python tools/measure_gate.py [--identical 50] [--serial 20] [--parallel 20]
                                 [--instructions-identical 10] [--instructions-serial 10]
                                 [--bench REGEX] [--rounds 4] [--workdir DIR] [--out FILE]

In a scratch clone of this repository's HEAD it makes three commits on top of
HEAD: one with identical code (an empty commit), one where the single-thread
``cython`` evolve backend does 10 % more work, one where the parallel
``openmp`` backend does 25 % more.  It then runs ``pytest-particles gate``
(the library's gate.run) many times, scenarios interleaved so that all see
the same machine conditions, and reports:

* false alarms: runs on identical code that exit 1 (confirmed regression);
* detections: runs on a slowed commit that exit 1 with the slowed backend
  among the confirmed cells.

Every run is appended to FILE as one JSON line, so an interrupted
measurement keeps what it did.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from pytest_particles import gate

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BENCH = r"time_evolve\('(cython|openmp|numpy)', (100|1000)\)"

# (scenario, file, the line to change, what to put after it, the backend that becomes slower)
INJECTIONS = {
    "serial": ("cython", "    _compiled.module.c_evolve(r, ang_speed, timestep, nsteps)\n",
               "    _compiled.module.c_evolve(r.copy(), ang_speed, timestep, nsteps // 10)  # injected: +10 %\n"),
    "parallel": ("openmp",
                 "    _compiled.module.omp_evolve(r, ang_speed, timestep, nsteps,"
                 " workers or validation.available_cores())\n",
                 "    _compiled.module.omp_evolve(r.copy(), ang_speed, timestep, nsteps // 4,"
                 " workers or validation.available_cores())  # injected: +25 %\n"),
}


def git(*args, cwd):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def prepare(workdir: Path) -> dict[str, str]:
    """A scratch clone with the base commit and one commit per scenario; returns their hashes.

    The hashes are kept in the clone, so a measurement resumed in the same
    workdir measures the same commits (and asv reuses their builds).
    """
    saved = workdir / "gate-commits.json"
    if saved.is_file():
        return json.loads(saved.read_text())
    if not (workdir / ".git").is_dir():
        subprocess.run(["git", "clone", "-q", str(ROOT), str(workdir)], check=True)
    base = git("rev-parse", "HEAD", cwd=workdir)
    commits = {"base": base}
    git("checkout", "-q", "--detach", base, cwd=workdir)
    git("-c", "user.name=gate", "-c", "user.email=gate@localhost", "commit", "-q", "--allow-empty", "-m",
        "identical code", cwd=workdir)
    commits["identical"] = git("rev-parse", "HEAD", cwd=workdir)
    source = workdir / "pytest_particles" / "book" / "evolution.py"
    for scenario, (_, line, extra) in INJECTIONS.items():
        git("checkout", "-q", "--detach", base, cwd=workdir)
        text = source.read_text()
        if line not in text:
            raise SystemExit(f"cannot inject the {scenario} slowdown: {line.strip()!r} not found in {source}")
        source.write_text(text.replace(line, line + extra, 1))
        git("-c", "user.name=gate", "-c", "user.email=gate@localhost", "commit", "-q", "-am",
            f"injected {scenario} slowdown", cwd=workdir)
        commits[scenario] = git("rev-parse", "HEAD", cwd=workdir)
    git("checkout", "-q", "--detach", base, cwd=workdir)
    saved.write_text(json.dumps(commits))
    return commits


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--identical", type=int, default=50)
    parser.add_argument("--serial", type=int, default=20)
    parser.add_argument("--parallel", type=int, default=20)
    parser.add_argument("--instructions-identical", type=int, default=10)
    parser.add_argument("--instructions-serial", type=int, default=10)
    parser.add_argument("--bench", default=DEFAULT_BENCH)
    parser.add_argument("--rounds", type=int, default=gate.DEFAULT_ROUNDS)
    parser.add_argument("--workdir", type=Path, default=ROOT / ".asv" / "gate-measure")
    parser.add_argument("--out", type=Path, default=ROOT / ".asv" / "gate-measure.jsonl")
    args = parser.parse_args(argv)

    commits = prepare(args.workdir)
    config = args.workdir / "asv.conf.json"
    plan = [("timed", "identical", args.identical), ("timed", "serial", args.serial),
            ("timed", "parallel", args.parallel), ("instructions", "identical", args.instructions_identical),
            ("instructions", "serial", args.instructions_serial)]
    remaining = {(mode, scenario): n for mode, scenario, n in plan}
    while any(remaining.values()):
        for (mode, scenario), left in remaining.items():
            if not left:
                continue
            remaining[(mode, scenario)] -= 1
            started = time.time()
            outcome = gate.run(commits["base"], commits[scenario], config=config,
                               bench=None if mode == "instructions" else args.bench,
                               rounds=args.rounds, instructions=mode == "instructions", log=lambda line: None)
            confirmed = [c.label for c in outcome.cells if c.flagged]
            record = {"mode": mode, "scenario": scenario, "code": outcome.code, "confirmed": confirmed,
                      "message": outcome.message, "seconds": round(time.time() - started, 1),
                      # what else the machine was doing: the 1-minute load average (2 = both cores busy)
                      "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(started)),
                      "load": round(os.getloadavg()[0], 2),
                      "worst": max(((c.label, round(c.ratio, 4)) for c in outcome.cells), key=lambda x: x[1],
                                   default=None)}
            with args.out.open("a") as f:
                f.write(json.dumps(record) + "\n")
            print(json.dumps(record), flush=True)
    summarize(args.out)
    return 0


def summarize(path: Path) -> None:
    """Print false-alarm and detection rates from the JSON lines in ``path``."""
    runs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for mode in ("timed", "instructions"):
        for scenario in ("identical", "serial", "parallel"):
            done = [r for r in runs if r["mode"] == mode and r["scenario"] == scenario]
            if not done:
                continue
            errors = sum(r["code"] not in (0, 1) for r in done)
            if scenario == "identical":
                alarms = sum(r["code"] == 1 for r in done)
                print(f"{mode:12s} identical code: {alarms} false alarm(s) in {len(done)} runs "
                      f"({alarms / len(done):.1%}); {errors} run(s) that could not decide")
            else:
                target = INJECTIONS[scenario][0]
                hits = sum(r["code"] == 1 and any(f"'{target}'" in c or f".{target}(" in c for c in r["confirmed"])
                           for r in done)
                print(f"{mode:12s} {scenario} slowdown ({target}): detected in {hits} of {len(done)} runs "
                      f"({hits / len(done):.1%}); {errors} run(s) that could not decide")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--summary":
        summarize(Path(sys.argv[2]))
    else:
        sys.exit(main())
