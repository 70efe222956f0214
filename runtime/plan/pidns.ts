import { TsrunError } from '../errors.js';
import { MountOption, Tag, type PlanRecord } from './records.js';
import type { NamespacePlan } from './namespaces.js';

/**
 * A container that joins another container's pid namespace gets the two-stage init
 * (PIDNS_LATE, native/PLAN-FORMAT.md "Joined pid namespace"): the process that sets up the
 * rootfs, with the host's root, cwd and directory fds, stays in the host's pid namespace,
 * where the other container cannot reach it through /proc/PID; only the final init, cloned
 * after the root change, enters the joined one. Its procfs mounts then have to name the joined
 * namespace explicitly, or they would show the host's processes.
 *
 * Not with a user namespace of the container's own: from inside it the first stage could not
 * enter a pid namespace of the host's user namespace, so such a container keeps the one-stage
 * init (as exposed as runc's).
 */
export function planLatePidns(plan: PlanRecord[], ns: NamespacePlan): void {
  if (!ns.joined.some((j) => j.type === 'pid') || ns.created.has('user')) return;
  // The listener hand-over takes the fd from the process the executor cloned, which is not the
  // final init here.
  if (plan.some((r) => r.tag === Tag.SECCOMP_LISTENER)) {
    throw new TsrunError('seccomp notify (listenerPath) is not supported for a container that joins the pid namespace of another');
  }
  for (const r of plan) {
    if (r.tag === Tag.MOUNT && r.fstype === 'proc' && !(r.options & MountOption.Bind)) r.options |= MountOption.ProcOfJoinedPidns;
  }
  const at = plan.findIndex((r) => r.tag === Tag.NS_UNSHARE || r.tag === Tag.ROOTFS);
  plan.splice(at < 0 ? plan.length : at, 0, { tag: Tag.PIDNS_LATE });
}
