import { CAPABILITY_NUMBERS } from '../spec/tables.js';
import { knownMountOptions } from '../plan/mount-options.js';
import { CLONE_NEW } from '../plan/namespaces.js';
import { lsmEnabled } from '../plan/host.js';
import { realHostView } from '../host-view.js';
import type { Command } from './command.js';
import { SECCOMP_FILTER_FLAGS, SUPPORTED_ACTIONS, SUPPORTED_ARCHES, SUPPORTED_OPERATORS } from '../seccomp/compile.js';
import { writeStdout } from '../stdio.js';

declare const TSRUN_VERSION: string;
declare const TSRUN_COMMIT: string;

/** The runtime-spec features document: only what this build really supports. */
export function featuresDocument(): Record<string, unknown> {
  return {
    ociVersionMin: '1.0.0',
    ociVersionMax: '1.2.0',
    hooks: ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'],
    mountOptions: knownMountOptions(),
    linux: {
      namespaces: Object.keys(CLONE_NEW).sort(),
      capabilities: Object.entries(CAPABILITY_NUMBERS).sort((a, b) => a[1] - b[1]).map(([name]) => name),
      cgroup: { v1: true, v2: true, systemd: true, systemdUser: true },
      seccomp: {
        enabled: true,
        actions: [...SUPPORTED_ACTIONS].sort(),
        operators: SUPPORTED_OPERATORS,
        archs: SUPPORTED_ARCHES,
        knownFlags: Object.keys(SECCOMP_FILTER_FLAGS),
        supportedFlags: Object.keys(SECCOMP_FILTER_FLAGS),
      },
      apparmor: { enabled: lsmEnabled(realHostView, 'apparmor') },
      selinux: { enabled: lsmEnabled(realHostView, 'selinux') },
      mountExtensions: { idmap: { enabled: true } },
    },
    annotations: {
      'org.opencontainers.tsrun.version': TSRUN_VERSION,
      'org.opencontainers.tsrun.commit': TSRUN_COMMIT,
      // checkpoint/restore through CRIU (found on PATH when used), as runc's own annotation says
      'org.opencontainers.tsrun.checkpoint.enabled': 'true',
    },
  };
}

export const features: Command = {
  name: 'features',
  usage: 'tsrun features',
  description: 'show the enabled features',
  flags: [],
  async run() {
    writeStdout(JSON.stringify(featuresDocument(), null, '    ') + '\n');
    return 0;
  },
};
