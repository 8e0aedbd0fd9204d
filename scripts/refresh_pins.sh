#!/usr/bin/env bash
# Refreshes constraints.txt, the pinned versions that scripts/setup.sh installs (README, "Development").
#
#   bash scripts/refresh_pins.sh                 a fresh venv (./.venv-pins) with `pip install -e '.[dev]'`
#                                                and NO constraints.txt: pip picks the newest releases that
#                                                pyproject.toml's ranges allow
#   bash scripts/refresh_pins.sh --venv DIR      freeze an existing venv instead (installs nothing into it)
#
# Then it freezes that venv (everything but mmsearch itself and pip), runs the golden tests
# (tests/index/test_official_golden.py: our vectors and scores against the official code in the model
# card's environment) with it, and writes constraints.txt only if they pass. Review the diff, run
# `bash scripts/test.sh`, and commit constraints.txt with the versions that moved in the message.
# A machine-wide pip constraint (PIP_CONSTRAINT, or `constraint` in pip.conf) still applies to the fresh
# venv: `pip config list` shows it.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
venv=.venv-pins
fresh=true
if [ "${1:-}" = "--venv" ] && [ -n "${2:-}" ]; then
    venv=$2
    fresh=false
elif [ -n "${1:-}" ]; then
    echo "usage: bash scripts/refresh_pins.sh [--venv DIR]" >&2
    exit 2
fi
if $fresh; then
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    "$venv/bin/python" -m pip install --quiet -e '.[dev]'
fi
new=$(mktemp)
trap 'rm -f "$new"' EXIT
{
    sed -n '/^#/p' constraints.txt  # the header (what the pins are, the platform notes) is kept
    "$venv/bin/python" -m pip freeze --exclude-editable --exclude mmsearch | grep -v '^#' | LC_ALL=C sort -f
} >"$new"
echo "refresh_pins: $(grep -vc '^#' "$new") pins from $venv; running the golden tests with them" >&2
HF_HUB_OFFLINE=1 PYTHONPATH="$PWD" "$venv/bin/python" -m pytest -n 0 -q -p no:cacheprovider \
    tests/index/test_official_golden.py
cp "$new" constraints.txt
git --no-pager diff --stat -- constraints.txt || true
echo "refresh_pins: constraints.txt written; run bash scripts/test.sh before committing it" >&2
