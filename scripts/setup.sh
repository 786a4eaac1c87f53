#!/usr/bin/env bash
# Prepares a fresh machine of this kind for `npm run local`, `npm test` and `npm run bench`:
# Debian packages, npm dependencies, and the build (TypeScript, addon, launcher, staged tree).
# Idempotent: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(containerd runc containernetworking-plugins busybox-static fuse3 libfuse3-dev libseccomp-dev
      iptables iproute2 lxcfs golang-github-containerd-containerd-dev build-essential python3 pkg-config
      buildah mmdebstrap golang-go golang-github-opencontainers-runc-dev patch)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing Debian packages (${missing[*]}); run as root or install them" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2
  # Installing these must not start daemons on this machine (no systemd; lxcfs, containerd).
  made_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
  fi
  apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
  if ((made_policy)); then rm -f /usr/sbin/policy-rc.d; fi
fi

if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "setup: npm ci" >&2
  npm ci --no-audit --no-fund >&2
fi

npm run --silent build >&2
