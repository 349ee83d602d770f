#!/usr/bin/env bash
# Install the Debian packages whose probe is missing.
# Usage: tools/apt_install.sh [--dry-run] <package>:<probe> ...
#   <probe> is an absolute path that exists once the package is installed, or a command
#   name looked up on PATH.  A package whose probe is already there is never installed
#   (its tool may come from elsewhere, e.g. npm from nodesource's Node.js, which
#   conflicts with Debian's npm package).
#   --dry-run: print "apt_install: would install: <packages>" (nothing when none) and exit.
# For tests of the setup targets: APT_PROBE_ROOT is put in front of absolute probes and
# APT_PROBE_PATH (when set) replaces PATH for command probes, so a fresh machine can be
# imitated without touching this one (see tests/test_setup.py).
set -euo pipefail
dry_run=false
if [ "${1:-}" = "--dry-run" ]; then dry_run=true; shift; fi
root=${APT_PROBE_ROOT:-}
missing=()
for need in "$@"; do
  pkg=${need%%:*}; probe=${need#*:}
  case $probe in
    /*) [ -e "$root$probe" ] && continue ;;
    *) PATH=${APT_PROBE_PATH:-$PATH} command -v "$probe" >/dev/null 2>&1 && continue ;;
  esac
  missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if $dry_run; then
  echo "apt_install: would install: ${missing[*]}"
  exit 0
fi
sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
echo "apt_install: installing Debian packages: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
