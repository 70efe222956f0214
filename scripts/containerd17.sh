#!/bin/sh
# containerd17.sh: containerd 1.7 (and its ctr) from Debian trixie, the newest containerd whose shim client
# keeps a gRPC shim (see shim/README.md), unpacked into a cache outside the clone without touching the
# machine's apt setup, as scripts/modern-stack.sh does for sid. Prints STACK_CONTAINERD17=, STACK_CTR17= and
# STACK_CONTAINERD17_DIR= lines on stdout.
# Exit 0: ready; 3: Debian's archive cannot be reached (tests skip); anything else: a real failure.
# TSRUN_STACK_CACHE overrides the cache root (default /var/cache/tsrun-stack).
set -eu

SUITE=trixie
WANT_CONTAINERD='1.7.'

fail() { echo "containerd17: $*" >&2; exit "${code:-1}"; }

NAME=containerd17
NEEDS=
. "$(dirname "$(readlink -f "$0")")/private-apt.sh"
KEY=containerd17-$(private_apt_key "$(readlink -f "$0")")
private_apt_dir
# trixie and its security updates: a stable suite may hold the version both in the release and as an update.
cat > "$dir/apt/sources.list" <<EOF
deb http://deb.debian.org/debian $SUITE main
deb http://deb.debian.org/debian $SUITE-updates main
deb http://deb.debian.org/debian-security $SUITE-security main
EOF
private_apt_update

# The candidate is the newest of the suites listed above.
v=$(apt apt-cache policy containerd 2>/dev/null | sed -n 's/^ *Candidate: //p')
case "$v" in
  "$WANT_CONTAINERD"*|*:"$WANT_CONTAINERD"*) ;;
  *) fail "$SUITE's containerd is '$v', not ${WANT_CONTAINERD}x as this script expects" ;;
esac
echo "containerd17: downloading containerd $v" >&2
(cd "$dir/debs" && apt apt-get download "containerd=$v" >"$dir/apt/download.log" 2>&1) ||
  fail "apt-get download containerd=$v failed: $(grep -E '^(E|W):' "$dir/apt/download.log" | head -1)"

mkdir -p "$dir/root" "$dir/bin"
dpkg-deb -x "$dir"/debs/containerd_*.deb "$dir/root"
# Only containerd and ctr: containerd finds the shims (tsrun's, runc's) on the PATH it is given.
for b in containerd ctr; do ln -sf "../root/usr/bin/$b" "$dir/bin/$b"; done
for b in containerd ctr; do
  out=$("$dir/bin/$b" --version 2>&1) || fail "$dir/bin/$b --version failed: $(echo "$out" | head -1)"
  case "$out" in *" $WANT_CONTAINERD"*) ;; *) fail "$dir/bin/$b --version printed '$out', expected $WANT_CONTAINERD" ;; esac
done

dpkg-deb -W --showformat='${Package} ${Version}\n' "$dir"/debs/containerd_*.deb > "$dir/versions"
rm -rf "$dir/debs" "$dir/apt/lists" "$dir/apt/cache"
cat > "$dir/env.tmp" <<EOF
STACK_CONTAINERD17_DIR=$dir
STACK_CONTAINERD17=$dir/bin/containerd
STACK_CTR17=$dir/bin/ctr
EOF
mv "$dir/env.tmp" "$dir/env"
echo "containerd17: ready in $dir" >&2
cat "$dir/env"
