import type { Mount, Spec } from './types.js';

/**
 * The config.json that `runc spec` (runc 1.1.5) writes, and with `rootless` the one of
 * `runc spec --rootless`. Property order is runc's: JSON.stringify(defaultSpec(o), null, '\t')
 * is byte for byte what runc prints (runc writes no trailing newline).
 *
 * The rootless variant is runc's ToRootless applied to the default: no network namespace, a user
 * namespace mapping only the caller's effective uid/gid to 0, /sys bind-mounted from the host
 * instead of a new sysfs, no uid=/gid= mount options, and no cgroup resources.
 */
export function defaultSpec(opts: { rootless: boolean }): Spec {
  const caps = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];
  const spec: Spec = {
    ociVersion: '1.0.2-dev',
    process: {
      terminal: true,
      user: { uid: 0, gid: 0 },
      args: ['sh'],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm'],
      cwd: '/',
      capabilities: { bounding: [...caps], effective: [...caps], permitted: [...caps], ambient: [...caps] },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: true },
    hostname: 'runc',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
    ],
    linux: {
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      maskedPaths: [
        '/proc/acpi',
        '/proc/asound',
        '/proc/kcore',
        '/proc/keys',
        '/proc/latency_stats',
        '/proc/timer_list',
        '/proc/timer_stats',
        '/proc/sched_debug',
        '/sys/firmware',
        '/proc/scsi',
      ],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
  return opts.rootless ? toRootless(spec) : spec;
}

function toRootless(spec: Spec): Spec {
  const linux = spec.linux!;
  const uid = process.geteuid?.() ?? 0;
  const gid = process.getegid?.() ?? 0;
  const mounts = spec.mounts!.map((m): Mount => {
    if (m.destination === '/sys') {
      return { destination: '/sys', type: 'none', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] };
    }
    const options = m.options?.filter((o) => !o.startsWith('uid=') && !o.startsWith('gid='));
    const { options: _dropped, ...rest } = m;
    return options?.length ? { ...rest, options } : rest;
  });
  return {
    ...spec,
    mounts,
    // A new object so that uidMappings/gidMappings come first, where Go's struct order puts them,
    // and resources is gone rather than undefined.
    linux: {
      uidMappings: [{ containerID: 0, hostID: uid, size: 1 }],
      gidMappings: [{ containerID: 0, hostID: gid, size: 1 }],
      namespaces: [...linux.namespaces!.filter((ns) => ns.type !== 'network' && ns.type !== 'user'), { type: 'user' }],
      maskedPaths: linux.maskedPaths,
      readonlyPaths: linux.readonlyPaths,
    },
  };
}
