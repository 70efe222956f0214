// Device rules on cgroup v2: the generated BPF device filter replaces whatever filters the
// cgroup had, at create and on update, without a moment where the cgroup has none.
import { withContext } from '../errors.js';
import { bpf, type Bpf } from '../sys/bpf.js';
import { generateDeviceFilter } from './device-filter.js';
import { parseDeviceRuleV2 } from './devices.js';
import type { LinuxDeviceCgroup } from './types.js';

/**
 * Loads the filter for rules (the full list, runc's defaults included) and makes it the only
 * BPF_CGROUP_DEVICE program of cgroupDir: the new program is attached (BPF_F_ALLOW_MULTI)
 * before the old ones are detached. While both are attached the kernel requires every program
 * to allow an access, so the changeover is never more permissive than either rule set.
 */
export function applyDeviceRules(cgroupDir: string, rules: LinuxDeviceCgroup[], sys: Bpf = bpf()): void {
  // Everything that can be refused is refused before the cgroup is touched.
  const filter = generateDeviceFilter(rules.map(parseDeviceRuleV2));
  const dirFd = sys.openCgroup(cgroupDir);
  try {
    const old = sys.attachedCgroupDevicePrograms(dirFd);
    const prog = sys.loadCgroupDeviceProgram(filter.program, filter.license);
    try {
      sys.attachCgroupDevice(dirFd, prog);
    } finally {
      // The attachment holds its own reference to the program.
      sys.close(prog);
    }
    for (const id of old) {
      // Programs an LSM hides from us (e.g. systemd's under SELinux) can only restrict more: left alone, as runc does.
      const fd = sys.programFd(id);
      if (fd === undefined) continue;
      try {
        sys.detachCgroupDevice(dirFd, fd);
      } catch (err) {
        throw withContext(`removing the old device filter (program ${id})`, err);
      } finally {
        sys.close(fd);
      }
    }
  } finally {
    sys.close(dirFd);
  }
}

/**
 * runc ignores a failure to install the filter only where it cannot matter or cannot work:
 * inside a user namespace (no bpf(2) there), or when every rule allows everything it names.
 */
export function canSkipDeviceFilterError(rules: LinuxDeviceCgroup[], inUserNs: boolean): boolean {
  if (inUserNs) return true;
  return rules.every((r) => r.allow && ['r', 'w', 'm'].every((ch) => (r.access ?? '').includes(ch)));
}
