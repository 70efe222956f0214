// Device cgroup rules: validation of OCI linux.resources.devices and the v1 rule text.
// (runc's default allowed devices are added by the caller: runtime/plan/devices.ts.)
import { TsrunError } from '../errors.js';
import { big } from './convert.js';
import type { LinuxDeviceCgroup } from './types.js';

export interface DeviceRule {
  allow: boolean;
  type: 'a' | 'b' | 'c';
  /** -1 = any ("*"). */
  major: bigint;
  minor: bigint;
  /** Canonical order, a non-empty subset of "rwm". */
  access: string;
}

/** Validates and normalises one OCI device cgroup rule (index for the error message). */
export function parseDeviceRule(d: LinuxDeviceCgroup, index: number): DeviceRule {
  const type = d.type === undefined || d.type === '' ? 'a' : d.type;
  if (type !== 'a' && type !== 'b' && type !== 'c') throw TsrunError.invalid(`invalid cgroup device type ${JSON.stringify(type)}`);
  if (!d.access) throw TsrunError.invalid(`device access at ${index} field cannot be empty`);
  let access = '';
  for (const ch of 'rwm') if (d.access.includes(ch)) access += ch;
  if (d.access.replace(/[rwm]/g, '') !== '') throw TsrunError.invalid(`invalid device access ${JSON.stringify(d.access)} at ${index} (expected letters from "rwm")`);
  const major = big(d.major, `devices[${index}].major`) ?? -1n;
  const minor = big(d.minor, `devices[${index}].minor`) ?? -1n;
  return { allow: d.allow === true, type, major, minor, access };
}

/** The v1 devices.allow / devices.deny text: "c 1:3 rwm", "a *:* rwm". */
export function deviceRuleString(r: DeviceRule): string {
  const num = (n: bigint) => (n === -1n ? '*' : n.toString());
  return `${r.type} ${num(r.major)}:${num(r.minor)} ${r.access}`;
}
