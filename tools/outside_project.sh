#!/usr/bin/env bash
# The outside project examples/ownkernel, end to end, as its own user would run it: a fresh virtualenv with
# pytest-particles installed from a wheel beside it, its tests, its asv suite once, and the gate between two
# commits of a scratch copy (identical code: exit 0; one backend made slower: exit 1).
# Usage: tools/outside_project.sh WHEELHOUSE   (a folder holding the pytest-particles wheel)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
wheelhouse="$(cd "$1" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export PIP_FIND_LINKS="$wheelhouse"   # pip finds pytest-particles here, in this venv and in asv's

python3 -m venv "$work/venv"
. "$work/venv/bin/activate"
pip install -q "pytest-particles[asv]" "$here/examples/ownkernel"
cp -r "$here/examples/ownkernel" "$work/ownkernel"
cd "$work/ownkernel"
pytest-particles backends --kernel blur
pytest -q -p no:cacheprovider

git init -q -b main .
git -c user.name=ci -c user.email=ci@localhost add -A
git -c user.name=ci -c user.email=ci@localhost commit -qm "ownkernel"
asv machine --yes > /dev/null
ASV_SKIP_SLOW=1 asv run --quick --show-stderr HEAD^!

base="$(git rev-parse HEAD)"
git -c user.name=ci -c user.email=ci@localhost commit -q --allow-empty -m "identical"
identical="$(git rev-parse HEAD)"
python - <<'PY'
from pathlib import Path
p = Path("ownkernel/kernels.py")
s = p.read_text()
s = s.replace("    return total / 9.0\n", "    for di in range(3):  # an accidental slowdown: every sum done twice\n"
              "        for dj in range(3):\n            total += image[di:di + n - 2, dj:dj + m - 2]\n"
              "    return (total - total / 2.0) / 4.5\n", 1)
p.write_text(s)
PY
git -c user.name=ci -c user.email=ci@localhost commit -qam "numpy blur slower"
slow="$(git rev-parse HEAD)"
bench="time_blur\('numpy', (128|512)\)"
set +e
pytest-particles gate "$base" "$identical" --bench "$bench"; identical_code=$?
pytest-particles gate "$base" "$slow" --bench "$bench"; slow_code=$?
set -e
echo "gate exit codes: identical $identical_code, slower $slow_code"
test "$identical_code" = 0 && test "$slow_code" = 1
