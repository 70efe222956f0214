// The host side of a container without a mount namespace of its own (runtime/plan/host-mounts.ts):
// its mounts all lie beneath one private bind of its rootfs in the host's mount namespace. create
// records which mount that bind goes on before the executor makes it, so that delete (also after
// a create killed half-way) detaches exactly that bind, with everything beneath it, and never a
// mount that was there before.
import { readFileSync, realpathSync } from 'node:fs';
import { TsrunError } from '../errors.js';
import { detachMount } from '../sys/umount.js';
import type { ContainerState } from './state.js';

interface MountEntry { id: number; parent: number; point: string }

function unescapeMountinfo(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

function readMountinfo(): MountEntry[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean).map((line) => {
    const f = line.split(' ');
    return { id: Number(f[0]), parent: Number(f[1]), point: unescapeMountinfo(f[4]) };
  });
}

function covers(point: string, path: string): boolean {
  return point === '/' || path === point || path.startsWith(`${point}/`);
}

/** The mount a bind made now at `path` would go on: the topmost one that covers it. */
function topMountAt(mounts: MountEntry[], path: string): MountEntry | undefined {
  const covering = mounts.filter((m) => covers(m.point, path));
  const deepest = Math.max(...covering.map((m) => m.point.length));
  const atPoint = covering.filter((m) => m.point.length === deepest);
  return atPoint.find((m) => !atPoint.some((o) => o.parent === m.id && o.id !== m.id));
}

/** What `state.hostMounts` records before the executor binds the rootfs in the host's mount namespace. */
export function hostMountsRecord(rootfs: string): NonNullable<ContainerState['hostMounts']> {
  const path = realpathSync(rootfs);
  const under = topMountAt(readMountinfo(), path);
  if (!under) throw new TsrunError(`no mount holds the rootfs ${path}`);
  return { rootfs: path, under: under.id };
}

/**
 * Detaches the binds the container made of its rootfs (there is one; the loop also takes what its
 * processes stacked on it). A mount of someone else at that path is left alone.
 */
export function detachHostMounts(record: ContainerState['hostMounts']): void {
  if (!record) return;
  for (let i = 0; i < 64; i++) {
    const mounts = readMountinfo();
    const ours = mounts.find((m) => m.point === record.rootfs && m.parent === record.under);
    if (!ours) return;
    // umount2 takes the topmost mount at the path: it must be ours or stacked on ours.
    let top = topMountAt(mounts, record.rootfs);
    while (top && top.id !== ours.id && top.point === record.rootfs) top = mounts.find((m) => m.id === top!.parent);
    if (top?.id !== ours.id) return;
    const errno = detachMount(record.rootfs);
    if (errno) throw new TsrunError(`unmount ${record.rootfs}: errno ${errno}`);
  }
}
