#!/bin/sh
# modern-stack.sh: today's engines and runtimes (runc 1.3, crun 1.2x, criu 4.2, containerd 2.1, Docker 28) from
# Debian's unstable suite, unpacked into a cache outside the clone, without touching the machine's apt setup
# (see ../shared/reference/modern-stack.md). Prints shell-sourceable STACK_*=path lines on stdout.
# Exit 0: ready; 3: Debian's archive cannot be reached (tests skip); anything else: a real failure.
# TSRUN_STACK_CACHE overrides the cache root (default /var/cache/tsrun-stack). $STACK_DIR/versions lists what was
# downloaded, package and version a line.
set -eu

# sid only ever holds one version of each package, so what is accepted is a version range, not a pin.
# Changing anything in this file changes the cache key, so an edit here always refetches.
WANT_RUNC='1.3.'
WANT_CRUN='1.2'
WANT_CRIU='4.2.'
WANT_CONTAINERD='2.1.'
WANT_DOCKER='28.'
# The packages whose binaries we use, and the sid libraries runc, crun and criu link (they need glibc >= 2.38).
TOOLS="runc crun criu libcompel1 containerd docker.io docker-cli tini-static"
LIBS="libc6 libseccomp2 libblake3-0 libsystemd0 libcap2 libjson-c5 libnet9 libprotobuf-c1 libnl-3-200
  libnl-route-3-200 libgnutls30t64 libbsd0 libnftables1 libnftnl11 libmnl0 libxtables12 libjansson4 libedit2
  libtasn1-6 libidn2-0 libunistring5 libp11-kit0 libnettle8t64 libhogweed6t64 libgmp10 libffi8 libmd0 libtinfo6
  libbpf1 libelf1t64 zlib1g libzstd1 libuuid1"

fail() { echo "modern-stack: $*" >&2; exit "${code:-1}"; }

NAME=modern-stack
NEEDS=patchelf
. "$(dirname "$(readlink -f "$0")")/private-apt.sh"
KEY=$(private_apt_key "$(readlink -f "$0")")
private_apt_dir
echo 'deb http://deb.debian.org/debian sid main' > "$dir/apt/sources.list"
private_apt_update

version() { apt apt-cache show "$1/sid" 2>/dev/null | sed -n 's/^Version: //p' | head -1; }
check_version() { # package wanted-prefix
  v=$(version "$1")
  [ -n "$v" ] || fail "sid has no package $1"
  case "$v" in
    "$2"*|*:"$2"*) ;;
    *) fail "sid's $1 is $v, not ${2}x as this script expects: update WANT_* in scripts/modern-stack.sh" ;;
  esac
}
check_version runc "$WANT_RUNC"
check_version crun "$WANT_CRUN"
check_version criu "$WANT_CRIU"
check_version containerd "$WANT_CONTAINERD"
check_version docker.io "$WANT_DOCKER"
check_version docker-cli "$WANT_DOCKER"

pkgs=""
for p in $TOOLS $LIBS; do pkgs="$pkgs $p/sid"; done
echo "modern-stack: downloading $TOOLS and their libraries" >&2
# shellcheck disable=SC2086
(cd "$dir/debs" && apt apt-get download $pkgs >"$dir/apt/download.log" 2>&1) ||
  fail "apt-get download from sid failed: $(grep -E '^(E|W):' "$dir/apt/download.log" | head -1)"

mkdir -p "$dir/root" "$dir/sid-libs" "$dir/bin"
for p in $TOOLS; do dpkg-deb -x "$dir"/debs/"$p"_*.deb "$dir/root"; done
for p in $LIBS libcompel1; do dpkg-deb -x "$dir"/debs/"$p"_*.deb "$dir/sid-libs"; done
libdir=$dir/sid-libs/usr/lib/x86_64-linux-gnu
[ -x "$libdir/ld-linux-x86-64.so.2" ] || fail "sid's libc6 has no $libdir/ld-linux-x86-64.so.2"

# DT_RPATH (--force-rpath), unlike DT_RUNPATH, also applies to the libraries' own dependencies, so nothing of
# the host's older glibc is mixed in.
for b in usr/sbin/runc usr/bin/crun usr/sbin/criu; do
  name=$(basename "$b")
  cp "$dir/root/$b" "$dir/bin/$name"
  patchelf --set-interpreter "$libdir/ld-linux-x86-64.so.2" --force-rpath --set-rpath "$libdir" "$dir/bin/$name"
  missing=$("$libdir/ld-linux-x86-64.so.2" --list "$dir/bin/$name" 2>&1 | grep 'not found' || true)
  [ -z "$missing" ] || fail "$name still misses libraries: $missing"
done
# The Go binaries need only the host's libc and run as they are; one directory holds everything, so it can lead
# PATH for engines that look their helpers up there (containerd's shim finds runc, dockerd its proxy and init).
for b in usr/bin/containerd usr/bin/ctr usr/bin/containerd-shim-runc-v2 usr/sbin/dockerd usr/sbin/docker-proxy \
  usr/bin/docker; do
  ln -sf "../root/$b" "$dir/bin/$(basename "$b")"
done
ln -sf ../root/usr/bin/tini-static "$dir/bin/docker-init"

expect() { # binary expected-substring args...
  b=$1; want=$2; shift 2
  out=$("$dir/bin/$b" "$@" 2>&1) || fail "$dir/bin/$b $* failed: $(echo "$out" | head -1)"
  case "$out" in *"$want"*) ;; *) fail "$dir/bin/$b $* printed '$(echo "$out" | head -1)', expected '$want'" ;; esac
}
expect runc "runc version $WANT_RUNC" --version
expect crun "crun version $WANT_CRUN" --version
expect criu "Version: $WANT_CRIU" --version
expect containerd " $WANT_CONTAINERD" --version
expect ctr " $WANT_CONTAINERD" --version
expect containerd-shim-runc-v2 " $WANT_CONTAINERD" -v
expect dockerd "Docker version $WANT_DOCKER" --version
expect docker "Docker version $WANT_DOCKER" --version
expect docker-init "tini version" --version
expect docker-proxy "" --version

for deb in "$dir"/debs/*.deb; do dpkg-deb -W --showformat='${Package} ${Version}\n' "$deb"; done > "$dir/versions"
rm -rf "$dir/debs" "$dir/apt/lists" "$dir/apt/cache"
b=$dir/bin
cat > "$dir/env.tmp" <<EOF
STACK_DIR=$dir
STACK_BIN=$b
STACK_RUNC=$b/runc
STACK_CRUN=$b/crun
STACK_CRIU=$b/criu
STACK_CONTAINERD=$b/containerd
STACK_CTR=$b/ctr
STACK_SHIM_RUNC=$b/containerd-shim-runc-v2
STACK_DOCKERD=$b/dockerd
STACK_DOCKER=$b/docker
STACK_DOCKER_PROXY=$b/docker-proxy
STACK_DOCKER_INIT=$b/docker-init
EOF
mv "$dir/env.tmp" "$dir/env"
echo "modern-stack: ready in $dir" >&2
cat "$dir/env"
