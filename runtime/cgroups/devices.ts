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

/**
 * Validates and normalises one OCI device cgroup rule (index for the error message). Letters
 * other than r, w and m are dropped, as runc's v1 and systemd drivers drop them ("rwa" is "rw").
 */
export function parseDeviceRule(d: LinuxDeviceCgroup, index: number): DeviceRule {
  return parseRule(d, index, false);
}

/** The same for runc's v2 BPF filter, which refuses letters other than r, w and m in its words. */
export function parseDeviceRuleV2(d: LinuxDeviceCgroup, index: number): DeviceRule {
  return parseRule(d, index, true);
}

function parseRule(d: LinuxDeviceCgroup, index: number, strict: boolean): DeviceRule {
  const type = d.type === undefined || d.type === '' ? 'a' : d.type;
  if (type !== 'a' && type !== 'b' && type !== 'c') throw TsrunError.invalid(`invalid cgroup device type ${JSON.stringify(type)}`);
  if (!d.access) throw TsrunError.invalid(`device access at ${index} field cannot be empty`);
  let access = '';
  for (const ch of 'rwm') if (d.access.includes(ch)) access += ch;
  const other = d.access.replace(/[rwm]/g, '');
  // Go prints the rune as its number.
  if (strict && other !== '') throw TsrunError.invalid(`unknown device access ${other.codePointAt(0)}`);
  if (!/^[A-Za-z]*$/.test(other) || access === '') throw TsrunError.invalid(`invalid device access ${JSON.stringify(d.access)} at ${index} (expected letters from "rwm")`);
  const major = big(d.major, `devices[${index}].major`) ?? -1n;
  const minor = big(d.minor, `devices[${index}].minor`) ?? -1n;
  return { allow: d.allow === true, type, major, minor, access };
}

/** The v1 devices.allow / devices.deny text: "c 1:3 rwm", "a *:* rwm". */
export function deviceRuleString(r: DeviceRule): string {
  const num = (n: bigint) => (n === -1n ? '*' : n.toString());
  return `${r.type} ${num(r.major)}:${num(r.minor)} ${r.access}`;
}
