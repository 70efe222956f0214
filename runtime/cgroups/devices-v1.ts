// Device rules on cgroup v1 (devices.allow / devices.deny).
import { TsrunError } from '../errors.js';
import { DeviceEmulator } from './device-emulator.js';
import { deviceRuleString, type DeviceRule } from './devices.js';
import type { CgroupFs } from './fsio.js';

/**
 * A cgroup in black-list mode (a new one, or one that allows everything) is set up as before:
 * "deny all", then the rules in order, and the kernel keeps what they mean. A cgroup that
 * already has a white-list (a running container) gets only the difference between its
 * devices.list and the wanted state, as runc computes it: access it keeps is never taken away,
 * not even for a moment. So does a switch to "allow all", which needs no "deny all" first.
 */
export function writeDeviceRulesV1(fs: CgroupFs, dir: string, rules: DeviceRule[]): void {
  const list = fs.readIfExists(dir, 'devices.list');
  const current = list === undefined ? undefined : DeviceEmulator.fromList(list);
  const lastReset = [...rules].reverse().find((r) => r.type === 'a');
  const wantsBlacklist = lastReset?.allow === true;
  if (current === undefined || (current.isBlacklist() && !wantsBlacklist)) {
    fs.write(dir, 'devices.deny', 'a');
    for (const rule of rules) fs.write(dir, rule.allow ? 'devices.allow' : 'devices.deny', deviceRuleString(rule));
    return;
  }
  const target = DeviceEmulator.fromRules(rules);
  for (const rule of current.transition(target)) fs.write(dir, rule.allow ? 'devices.allow' : 'devices.deny', deviceRuleString(rule));
  // runc's final check. devices.list shows a black-list's mode only, not its exceptions.
  const after = DeviceEmulator.fromList(fs.read(dir, 'devices.list'));
  if (!target.isBlacklist() && !after.equals(target)) throw TsrunError.invalid('resulting devices cgroup doesn\'t precisely match target');
  if (target.isBlacklist() !== after.isBlacklist()) throw TsrunError.invalid('resulting devices cgroup doesn\'t match target mode');
}
