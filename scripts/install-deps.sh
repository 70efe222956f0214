#!/bin/sh
# Installs the Debian packages that building and the demo need, when they are missing;
# `install-deps.sh test` adds what the tests need (the real engines tsrun is tried under).
set -e
need=""
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; }
pkgs="gcc make libc6-dev busybox-static runc python3-seccomp"
[ "$1" = test ] && pkgs="$pkgs docker.io containerd iproute2 podman conmon strace patchelf python3-protobuf criu uidmap clang libclang-rt-14-dev"
for pkg in $pkgs; do
  have "$pkg" || need="$need $pkg"
done
command -v node >/dev/null 2>&1 || need="$need nodejs npm"
if [ -n "$need" ]; then
  echo "installing:$need"
  if [ "$(id -u)" != 0 ]; then echo "run as root to install:$need" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends $need >/dev/null 2>&1 || {
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends $need >/dev/null
  }
fi
