#!/bin/sh
# make-busybox-bundle.sh DIR [demo]: an OCI bundle whose rootfs is Debian's static busybox.
set -e
dir=$1
[ -n "$dir" ] || { echo "usage: $0 DIR [demo]" >&2; exit 2; }
busybox=/bin/busybox
[ -x "$busybox" ] || { echo "$busybox is missing: apt-get install busybox-static" >&2; exit 1; }
here=$(cd "$(dirname "$0")/.." && pwd)
rm -rf "$dir"
mkdir -p "$dir/rootfs/bin" "$dir/rootfs/proc" "$dir/rootfs/sys" "$dir/rootfs/dev" "$dir/rootfs/tmp" "$dir/rootfs/etc" "$dir/rootfs/root"
cp "$busybox" "$dir/rootfs/bin/busybox"
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$dir/rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$dir/rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$dir/rootfs/etc/group"
(cd "$dir" && "$here/bin/tsrun" spec)
if [ "$2" = demo ]; then
  node -e '
    const fs = require("fs"); const f = process.argv[1]; const c = JSON.parse(fs.readFileSync(f, "utf8"));
    c.process.terminal = false;
    c.process.args = ["sh", "-c", "echo \"hostname: $(hostname)\"; echo \"my pid: $$\"; echo \"uid: $(id -u)\"; echo mounts:; cat /proc/self/mounts; echo processes:; ps"];
    c.hostname = "tsrun-demo";
    fs.writeFileSync(f, JSON.stringify(c, null, "\t"));
  ' "$dir/config.json"
fi
