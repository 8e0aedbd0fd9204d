#!/usr/bin/env bash
# apt_install.sh WHO PACKAGE...: installs Debian packages for a test dependency (install_chromium.sh,
# install_tesseract.sh), as root or through sudo; fails with a message naming WHO when it cannot.
set -euo pipefail
who=$1
shift
if ! command -v apt-get >/dev/null 2>&1; then
    echo "$who: no apt-get here; install $* yourself" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo="sudo"
    else
        echo "$who: run as root (apt-get needs it) or install $* yourself" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
