#!/usr/bin/env bash
# Installs Debian's chromium for the browser test (tests/api/test_browser.py drives it through Playwright
# with executable_path=/usr/bin/chromium; `playwright install` downloads browsers and is not used).
# Needs root (or sudo). A no-op when a chromium is already on PATH or at $MMSEARCH_CHROMIUM.
set -euo pipefail
if [ -n "${MMSEARCH_CHROMIUM:-}" ] && [ -x "${MMSEARCH_CHROMIUM}" ]; then
    echo "install_chromium: using ${MMSEARCH_CHROMIUM}"
    exit 0
fi
for candidate in /usr/bin/chromium /usr/bin/chromium-browser; do
    if [ -x "$candidate" ]; then
        echo "install_chromium: $("$candidate" --version 2>/dev/null || echo "$candidate") already installed"
        exit 0
    fi
done
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_chromium: no apt-get here; install chromium yourself and set MMSEARCH_CHROMIUM" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo="sudo"
    else
        echo "install_chromium: run as root (apt-get needs it) or install chromium yourself" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
echo "install_chromium: $(/usr/bin/chromium --version 2>/dev/null || echo chromium) installed"
