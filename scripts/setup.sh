#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Create or update the project's environment: .venv with the pinned ROS 2 Kilted wheels and
# the rest of requirements.txt, the two fixes the wheels need before colcon can build
# messages, then `colcon build` of this package into build/ and install/. Tests are not
# configured (BUILD_TESTING=OFF, faster) unless ACNN_BUILD_TESTING=ON (scripts/colcon_test.sh).
# Idempotent: a second run only re-checks stamps and lets colcon do an incremental build.
set -euo pipefail

repo_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_dir"
python_bin="${ACNN_PYTHON:-python3.11}"
venv_dir="$repo_dir/.venv"
stamp="$venv_dir/.acnn_requirements.sha256"

log() { printf '[setup] %s\n' "$*" >&2; }

if [[ ! -x "$venv_dir/bin/python" ]]; then
  command -v "$python_bin" >/dev/null || { log "error: $python_bin not found (set ACNN_PYTHON)"; exit 1; }
  log "creating $venv_dir with $($python_bin --version)"
  "$python_bin" -m venv "$venv_dir"
fi
# shellcheck disable=SC1091
source "$venv_dir/bin/activate"

# requirements-browser.txt: the browser test's pins (selenium), installed with the rest.
want="$(cat requirements.txt requirements-browser.txt | sha256sum | cut -d' ' -f1)"
if [[ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]]; then
  log 'installing pinned requirements (first run: about 2 minutes)'
  python -m pip install --quiet --disable-pip-version-check -r requirements.txt \
    -r requirements-browser.txt 2>&1 \
    | grep -v "^WARNING: Location 'file://" >&2 || true
  python -m pip check >/dev/null 2>&1 || log 'note: pip check reports conflicts (see pip check)'
  python - <<'PY'
import importlib
for mod in ('rclpy', 'torch', 'onnxruntime', 'cv2', 'pymodbus', 'rosbags', 'colcon_core'):
    importlib.import_module(mod)
PY
  echo "$want" > "$stamp"
fi

# The other renderer (requirements-renderer.txt): a second, small venv with OpenCV 5.1 that
# draws the synthetic label text a few pixels differently (test/test_other_renderer.py).
renderer_dir="$repo_dir/.venv-renderer"
renderer_want="$(sha256sum requirements-renderer.txt | cut -d' ' -f1)"
if [[ "$(cat "$renderer_dir/.acnn_requirements.sha256" 2>/dev/null || true)" != "$renderer_want" ]]; then
  log 'installing .venv-renderer (OpenCV 5.1 for the other-renderer test; once)'
  [[ -x "$renderer_dir/bin/python" ]] || "$python_bin" -m venv "$renderer_dir"
  "$renderer_dir/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r requirements-renderer.txt 2>&1 | grep -v "^WARNING: Location 'file://" >&2 || true
  "$renderer_dir/bin/python" -c 'import cv2, numpy, PIL, tqdm' \
    && echo "$renderer_want" > "$renderer_dir/.acnn_requirements.sha256"
fi

# The label page's browser test (test/test_label_page.py) drives Debian's Chromium through its
# chromedriver: installed once here as root with apt-get; otherwise we say how (the test fails).
if [[ ! -x /usr/bin/chromedriver ]]; then
  if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null; then
    log 'installing chromium + chromium-driver with apt-get (the label page test; once)'
    mkdir -p log
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends chromium chromium-driver; } > log/apt_chromium.txt 2>&1 \
      || log 'warning: apt-get install chromium chromium-driver failed (log/apt_chromium.txt)'
  else
    log 'note: test/test_label_page.py needs: sudo apt-get install -y chromium chromium-driver'
  fi
fi

# The shift store's PostgreSQL test (test/test_shift_postgres.py) starts a throw-away cluster
# with Debian's server binaries (initdb, pg_ctl): installed once here as root with apt-get.
if ! compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null && ! command -v pg_ctl >/dev/null; then
  if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null; then
    log 'installing postgresql with apt-get (the shift database test; once)'
    mkdir -p log
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends postgresql; } > log/apt_postgresql.txt 2>&1 \
      || log 'warning: apt-get install postgresql failed (log/apt_postgresql.txt)'
  else
    log 'note: test/test_shift_postgres.py needs: sudo apt-get install -y postgresql'
  fi
fi

# npm packages, pinned by their package-lock.json (`npm ci`, again only when the lock changes):
# resource/opcua = the official OPC UA companion NodeSet2 files (vision_system_node loads
# MachineVision's), test/clients/node_opcua = node-opcua-client for the independent-client test.
for npm_dir in resource/opcua test/clients/node_opcua; do
  lock="$npm_dir/package-lock.json"
  [[ -f "$lock" && "$lock" -nt "$npm_dir/node_modules/.package-lock.json" ]] || continue
  command -v npm >/dev/null || { log "error: npm not found (needed in $npm_dir)"; exit 1; }
  log "npm ci in $npm_dir"
  (cd "$npm_dir" && npm ci --no-audit --no-fund --loglevel=error) >&2
done

# Fix 1: the wheels' exported CMake files name the wheel builder's Python include paths.
py_include="$(python -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
np_include="$(python -c 'import numpy; print(numpy.get_include())')"
mapfile -t stale < <(grep -l '/opt/python/cp311' "$venv_dir"/share/*/cmake/*.cmake 2>/dev/null || true)
if (( ${#stale[@]} )); then
  log "rewriting wheel-builder Python paths in ${#stale[@]} CMake files"
  sed -i \
    -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#${np_include}#g" \
    -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/core/include#${np_include}#g" \
    -e "s#/opt/python/cp311-cp311/include/python3.11#${py_include}#g" \
    "${stale[@]}"
fi

# Fix 2: the ament/CMake prefixes are the venv.
export AMENT_PREFIX_PATH="$venv_dir" CMAKE_PREFIX_PATH="$venv_dir"
# CMake refuses exported include paths inside the source directory, and .venv (numpy's headers)
# is inside the repository. Building through a symlink gives CMake a source directory that does
# not contain .venv, while the files built are still this checkout's.
mkdir -p "$venv_dir/src"
ln -sfn "$repo_dir" "$venv_dir/src/acnn_ros"
mkdir -p log
log 'colcon build'
colcon --log-base log build --paths "$venv_dir/src/acnn_ros" --build-base build --install-base install --merge-install \
  --event-handlers console_cohesion- summary- \
  --cmake-args -DPython3_EXECUTABLE="$venv_dir/bin/python" -DBUILD_TESTING="${ACNN_BUILD_TESTING:-OFF}" \
  > log/colcon_build.txt 2>&1 \
  || { log 'error: colcon build failed:'; tail -n 40 log/colcon_build.txt >&2; exit 1; }
log 'ready: source scripts/env.sh'
