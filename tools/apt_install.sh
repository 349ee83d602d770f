#!/usr/bin/env bash
# Install the Debian packages whose probe is missing.
# Usage: tools/apt_install.sh <package>:<probe> ...
#   <probe> is an absolute path that exists once the package is installed, or a command
#   name looked up on PATH.  A package whose probe is already there is never installed
#   (its tool may come from elsewhere, e.g. npm from nodesource's Node.js, which
#   conflicts with Debian's npm package).
set -euo pipefail
missing=()
for need in "$@"; do
  pkg=${need%%:*}; probe=${need#*:}
  case $probe in
    /*) [ -e "$probe" ] && continue ;;
    *) command -v "$probe" >/dev/null 2>&1 && continue ;;
  esac
  missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
echo "apt_install: installing Debian packages: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
