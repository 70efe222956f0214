import { TsrunError } from '../errors.js';
import type { Spec } from '../spec/types.js';

export const CLONE_NEW: Record<string, number> = {
  mount: 0x00020000, uts: 0x04000000, ipc: 0x08000000, user: 0x10000000,
  pid: 0x20000000, network: 0x40000000, cgroup: 0x02000000, time: 0x00000080,
};

/** The order in which namespaces are joined: user first so the rest are joined with its privileges, mount last. */
const JOIN_ORDER = ['user', 'ipc', 'uts', 'network', 'pid', 'cgroup', 'time', 'mount'];

export interface NamespacePlan {
  /** Every namespace type the container has of its own (created or joined). */
  has: Set<string>;
  created: Set<string>;
  joined: { type: string; path: string }[];
  cloneFlags: number;
  unshareFlags: number;
}

export function planNamespaces(spec: Spec): NamespacePlan {
  const has = new Set<string>();
  const created = new Set<string>();
  const joined: { type: string; path: string }[] = [];
  for (const ns of spec.linux?.namespaces ?? []) {
    if (!(ns.type in CLONE_NEW)) throw TsrunError.invalid(`namespace type "${ns.type}" is not supported`);
    has.add(ns.type);
    if (ns.path) joined.push({ type: ns.type, path: ns.path });
    else created.add(ns.type);
  }
  joined.sort((a, b) => JOIN_ORDER.indexOf(a.type) - JOIN_ORDER.indexOf(b.type));

  let cloneFlags = 0;
  let unshareFlags = 0;
  for (const type of created) {
    // The cgroup namespace must be made after the process joined its cgroup, and the time
    // namespace only takes effect for children: both are handled outside clone's flags.
    if (type === 'cgroup') unshareFlags |= CLONE_NEW.cgroup;
    // An IPC namespace's mqueue filesystem belongs to whoever made the namespace: made by the
    // init once it is root in its user namespace (as runc's init makes it), /dev/mqueue is
    // root's in there, not the overflow ids of the host's root.
    else if (type === 'ipc' && created.has('user')) unshareFlags |= CLONE_NEW.ipc;
    else if (type !== 'time') cloneFlags |= CLONE_NEW[type];
  }
  return { has, created, joined, cloneFlags, unshareFlags };
}

/**
 * What only the plan can tell (which namespaces it creates rather than joins). Everything else
 * about namespaces (mappings, hostname, sysctls, time offsets) is checked once, with runc's
 * words and the JSON path, by spec/semantic.ts before a spec gets here.
 */
export function checkNamespaceUse(spec: Spec, ns: NamespacePlan): void {
  const linux = spec.linux ?? {};
  // A joined user namespace with maps too (containerd and CRI-O send a pod's both ways): as runc 1.2+, allowed when
  // they are the namespace's own, which the executor checks before it joins it.
  if (linux.rootfsPropagation && !ns.has.has('mount')) {
    throw TsrunError.invalid('rootfsPropagation requires a mount namespace');
  }
}

export function idMapContent(mappings: { containerID: number; hostID: number; size: number }[] | undefined): string {
  return (mappings ?? []).map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join('');
}

export function timeOffsetsContent(offsets: Record<string, { secs?: number; nanosecs?: number }> | undefined): string {
  let out = '';
  for (const [clock, value] of Object.entries(offsets ?? {})) {
    if (clock !== 'monotonic' && clock !== 'boottime') throw TsrunError.invalid(`time offset for unknown clock "${clock}"`);
    out += `${clock} ${value.secs ?? 0} ${value.nanosecs ?? 0}\n`;
  }
  return out;
}
