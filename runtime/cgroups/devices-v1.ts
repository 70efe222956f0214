// Device rules on cgroup v1 (devices.allow / devices.deny).
import { TsrunError } from '../errors.js';
import { DeviceEmulator } from './device-emulator.js';
import { deviceRuleString, type DeviceRule } from './devices.js';
import type { CgroupFs } from './fsio.js';

/**
 * Every cgroup gets the difference between its devices.list and the wanted state, as runc
 * computes it: a new one (a black-list) "deny all" and then the reduced rules in runc's order, so
 * devices.list reads as under runc; a running container's white-list never loses access it keeps,
 * not even for a moment. So does a switch to "allow all", which needs no "deny all" first.
 * Without a devices.list (a fake tree) the rules are written as given.
 */
export function writeDeviceRulesV1(fs: CgroupFs, dir: string, rules: DeviceRule[]): void {
  const list = fs.readIfExists(dir, 'devices.list');
  const current = list === undefined ? undefined : DeviceEmulator.fromList(list);
  if (current === undefined) {
    fs.write(dir, 'devices.deny', 'a');
    for (const rule of rules) fs.write(dir, rule.allow ? 'devices.allow' : 'devices.deny', deviceRuleString(rule));
    return;
  }
  const target = DeviceEmulator.fromRules(rules);
  for (const rule of current.transition(target)) fs.write(dir, rule.allow ? 'devices.allow' : 'devices.deny', deviceRuleString(rule));
  // A black-list has no exceptions to keep: the "deny all" written first made it what the kernel
  // now holds. (runc checks it anyway; a fake tree's devices.list cannot follow the writes.)
  if (current.isBlacklist()) return;
  // runc's final check. devices.list shows a black-list's mode only, not its exceptions.
  const after = DeviceEmulator.fromList(fs.read(dir, 'devices.list'));
  if (!target.isBlacklist() && !after.equals(target)) throw TsrunError.invalid('resulting devices cgroup doesn\'t precisely match target');
  if (target.isBlacklist() !== after.isBlacklist()) throw TsrunError.invalid('resulting devices cgroup doesn\'t match target mode');
}
