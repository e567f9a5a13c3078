#!/usr/bin/env bash
# Install the Debian packages the tests use when they are missing: Chromium for the UI test,
# Graphviz for PNG graphs. One `apt-get update` first, as a fresh machine needs it.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v dot >/dev/null 2>&1 || missing+=(graphviz)
if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "system-packages: need ${missing[*]}; run as root or install them" >&2
    exit 1
fi
echo "system-packages: installing ${missing[*]}"
start=$SECONDS
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "system-packages: done in $((SECONDS - start)) s"
