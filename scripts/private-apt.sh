# Sourced by modern-stack.sh and containerd17.sh: a private apt (its own sources, lists, cache and
# preferences; the machine's apt state is neither read nor written) fetching into a cache dir.
# The caller sets NAME (for messages), KEY (the cache dir's name: a hash of the caller and this
# file, so that an edit of either refetches) and NEEDS (commands it needs besides apt's), defines fail(), then
# calls private_apt_dir, which prints the env file of a completed fetch and exits, or leaves an
# empty $dir (under a lock held until exit) with $dir/apt/sources.list to fill and apt() to call.
# TSRUN_STACK_CACHE overrides the cache root (default /var/cache/tsrun-stack).

# sha256 of the given files and of this one: a cache key
private_apt_key() {
  cat "$@" "$(dirname "$(readlink -f "$0")")/private-apt.sh" | sha256sum | cut -c1-16
}

private_apt_dir() {
  cache=${TSRUN_STACK_CACHE:-/var/cache/tsrun-stack}
  dir=$cache/$KEY
  # Fast path: a completed fetch is marked by its env file, written last.
  if [ -f "$dir/env" ]; then cat "$dir/env"; exit 0; fi
  mkdir -p "$cache" 2>/dev/null || fail "cannot create $cache (run as root or set TSRUN_STACK_CACHE)"
  exec 9>"$cache/$KEY.lock"
  flock 9
  # Another process may have finished while we waited for the lock.
  if [ -f "$dir/env" ]; then cat "$dir/env"; exit 0; fi
  for tool in apt-get apt-cache dpkg-deb flock $NEEDS; do
    command -v "$tool" >/dev/null 2>&1 || fail "$tool is missing: run scripts/install-deps.sh test"
  done
  rm -rf "$dir"
  mkdir -p "$dir/apt/lists/partial" "$dir/apt/cache/archives/partial" "$dir/apt/empty" "$dir/debs"
}

# The sandbox user _apt cannot write into a root-only cache directory, hence APT::Sandbox::User=root.
apt() {
  cmd=$1; shift
  "$cmd" -q -o Dir::Etc::SourceList="$dir/apt/sources.list" -o Dir::Etc::SourceParts="$dir/apt/empty" \
    -o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts="$dir/apt/empty" \
    -o Dir::State::Lists="$dir/apt/lists" -o Dir::Cache="$dir/apt/cache" -o APT::Sandbox::User=root "$@"
}

# apt-get update of the sources; exit 3 when Debian's archive cannot be reached
private_apt_update() {
  echo "$NAME: fetching package lists into $dir" >&2
  if ! apt apt-get update --error-on=any >"$dir/apt/update.log" 2>&1; then
    code=3 fail "cannot reach Debian's archive (deb.debian.org): $(grep -E '^(E|W):' "$dir/apt/update.log" | head -1)"
  fi
}
