// A container without a mount namespace of its own (runc runs one; its mounts then happen in the
// host's mount namespace). runc makes the host's whole tree rslave first and leaves every mount behind
// at delete; tsrun never touches the propagation of a mount it did not make: the executor binds the
// rootfs onto itself and makes that bind private before anything is mounted beneath it, so the
// bind is the only mount a peer of the rootfs's mount ever sees, and delete detaches it with all
// beneath it (runtime/container/host-mounts.ts).
import { TsrunError } from '../errors.js';
import type { Spec } from '../spec/types.js';
import type { NamespacePlan } from './namespaces.js';

/** ROOTFS flags bit1 (native/PLAN-FORMAT.md). */
export const ROOTFS_HOST_MNTNS = 2;

/** Whether the container's mounts go beneath a private bind of its rootfs in the host's mount namespace. */
export function hostMountNamespaceRootfs(spec: Spec, ns: NamespacePlan): boolean {
  if (!spec.mounts?.length) return false;
  // The host's mount namespace belongs to the host's user namespace: a container's own user
  // namespace may not mount there.
  if (ns.has.has('user')) throw TsrunError.invalid('mounts require a mount namespace: a user namespace cannot mount in the host\'s mount namespace');
  return true;
}
