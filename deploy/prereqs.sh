#!/usr/bin/env bash
# What `make test` needs outside .venv: Java 17+ and Maven (fetch and run the Kafka broker),
# openssl (the SASL_SSL broker's certificates), python3-venv (.venv) and Chromium (the
# dashboard's browser test, driven by Playwright; its own browser download is not used), and
# npm (the dashboard's charting and map libraries, copied from npm by `make vendor`).
# `prereqs.sh run` checks only what `make run` needs: Java, Maven, python3-venv and npm.
#
# Anything missing is installed with apt-get when this runs as root on Debian/Ubuntu;
# otherwise the script stops at once, naming the exact command to run. Exit 0: all present.
set -euo pipefail

PYTHON=${PYTHON:-python3}
for_what=${1:-test}

java_ok() {
    local java="${JAVA_HOME:+$JAVA_HOME/bin/}java" ver major
    command -v "$java" >/dev/null 2>&1 || return 1
    ver=$("$java" -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -n 1)
    major=${ver%%[.+-]*}
    [[ "$major" =~ ^[0-9]+$ ]] && ((major >= 17))
}

chromium_ok() {
    if [[ -n "${CHROMIUM:-}" ]]; then
        command -v "$CHROMIUM" >/dev/null 2>&1
    else
        command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1
    fi
}

# Debian package names.
missing=()
java_ok || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [[ $for_what != run ]]; then
    command -v openssl >/dev/null 2>&1 || missing+=(openssl)
    chromium_ok || missing+=(chromium)
fi
((${#missing[@]})) || exit 0

if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1 && grep -qsi debian /etc/os-release; then
    echo "prereqs: installing ${missing[*]} (apt-get; once)" >&2
    # The lock timeout waits for another apt/dpkg run on the machine instead of failing.
    apt-get -qq -o DPkg::Lock::Timeout=600 update
    DEBIAN_FRONTEND=noninteractive apt-get -qq -y -o DPkg::Lock::Timeout=600 \
        install --no-install-recommends "${missing[@]}" >/dev/null
    exit 0
fi
sudo=""
[[ $(id -u) == 0 ]] || sudo="sudo "
{
    echo "prereqs: missing ${missing[*]}. On Debian run:"
    echo "    ${sudo}apt-get update && ${sudo}apt-get install -y ${missing[*]}"
    echo "elsewhere install Java 17+, Maven, openssl, Python's venv module and Chromium"
    echo "(CHROMIUM=/path/to/chromium points at one outside PATH), then run make $for_what again."
} >&2
exit 2
