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
bash "$(dirname "$0")/apt_install.sh" install_chromium chromium fonts-dejavu-core
echo "install_chromium: $(/usr/bin/chromium --version 2>/dev/null || echo chromium) installed"
