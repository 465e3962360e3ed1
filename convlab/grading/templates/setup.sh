#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image
# (`convlab export gradescope CHAPTER` wrote it; docs/grading-at-scale.md).
# It installs bubblewrap (the grading sandbox) where it can, a Python >= 3.11
# virtual environment at $ROOT/venv with the pinned packages of requirements.txt
# (PyTorch's CPU build), and the convlab package shipped in this zip.
set -euo pipefail

SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="${CONVLAB_AUTOGRADER_ROOT:-/autograder}"
VENV="$ROOT/venv"
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1

apt_install() {  # apt_install PACKAGE...: true when they are installed
    command -v apt-get >/dev/null || return 1
    if [ -z "${APT_UPDATED:-}" ]; then apt-get update -qq || return 1; APT_UPDATED=1; fi
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# The sandbox. Docker often forbids the user namespaces bubblewrap needs: then
# run_autograder grades without it (the container is the sandbox) and says so.
if ! command -v bwrap >/dev/null; then
    apt_install bubblewrap || echo "setup.sh: WARNING: could not install bubblewrap; submissions will be graded without it"
fi

# Python >= 3.11 (the pinned set is tested on 3.11).
python_ok() { command -v "$1" >/dev/null && "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }
PYTHON=""
for candidate in python3.11 python3.12 python3.13 python3; do
    if python_ok "$candidate"; then PYTHON="$candidate"; break; fi
done
if [ -z "$PYTHON" ] && apt_install python3.11 python3.11-venv && python_ok python3.11; then PYTHON=python3.11; fi
if [ -z "$PYTHON" ]; then
    echo "setup.sh: ERROR: no Python >= 3.11 here and apt-get could not install python3.11;" \
         "choose a newer base image in the autograder settings" >&2
    exit 1
fi

# A virtual environment (Ubuntu 24.04's system Python refuses pip installs).
if ! "$PYTHON" -m venv "$VENV"; then
    version="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    apt_install "python$version-venv" || apt_install python3-venv
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
fi

# torch from PyTorch's CPU index (PyPI's Linux wheel pulls CUDA, gigabytes of it).
"$VENV/bin/python" -m pip install --quiet --extra-index-url https://download.pytorch.org/whl/cpu \
    -r "$SOURCE/requirements.txt"
"$VENV/bin/python" -m pip install --quiet --no-deps "$SOURCE"
"$VENV/bin/python" -c "import convlab.grading.gradescope, torch; print('convlab', convlab.__version__, 'torch', torch.__version__)"
