// A model of the cgroup v1 devices controller (runc 1.1's devices.Emulator semantics). It is
// the single definition of what a device rule list means: the v2 BPF program is generated from
// its reduced rule set, and v1 updates write only the transition between two of its states so a
// running container never sees a moment of "deny all".
import { TsrunError } from '../errors.js';
import { deviceRuleString, type DeviceRule } from './devices.js';

const U32_MAX = 0xffffffffn;

/** What a rule matches: type b/c and major/minor (-1 = wildcard); the "a" type never gets here. */
interface Meta { type: 'b' | 'c'; major: bigint; minor: bigint }

const PERM_BITS: Record<string, number> = { r: 1, w: 2, m: 4 };
const permSet = (access: string) => [...access].reduce((s, ch) => s | (PERM_BITS[ch] ?? 0), 0);
const permString = (set: number) => 'rwm'.split('').filter((ch) => set & PERM_BITS[ch]!).join('');
const metaKey = (m: Meta) => `${m.type} ${m.major} ${m.minor}`;

function checkNumber(n: bigint, what: string, rule: DeviceRule): void {
  // The v1 file takes u32 numbers or "*"; runc's BPF generator refuses anything wider too.
  if (n < -1n || n > U32_MAX) throw TsrunError.invalid(`invalid device ${what} ${n} in rule "${deviceRuleString(rule)}"`);
}

export class DeviceEmulator {
  /** true = black-list mode (everything allowed except the rules), false = white-list. */
  defaultAllow = false;
  private rules = new Map<string, { meta: Meta; perms: number }>();

  /** A white-list emulator with the rules applied in order (runc's buildEmulator). */
  static fromRules(rules: DeviceRule[]): DeviceEmulator {
    const e = new DeviceEmulator();
    for (const r of rules) e.apply(r);
    return e;
  }

  /**
   * The state read from a v1 devices.list. The file lists allowed entries only, so a
   * black-list cgroup shows as "a *:* rwm" and its deny exceptions are unknown.
   */
  static fromList(text: string): DeviceEmulator {
    const e = new DeviceEmulator();
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      const f = line.trim().split(/[ :]/);
      if (f.length !== 4) throw TsrunError.invalid(`malformed devices.list rule ${JSON.stringify(line)}`);
      const [type, major, minor, access] = f as [string, string, string, string];
      const num = (s: string) => {
        if (s === '*') return -1n;
        if (!/^\d+$/.test(s) || BigInt(s) > U32_MAX) throw TsrunError.invalid(`malformed devices.list rule ${JSON.stringify(line)}: bad number ${JSON.stringify(s)}`);
        return BigInt(s);
      };
      if (type === 'a') {
        e.reset(true);
        continue;
      }
      if (type !== 'b' && type !== 'c') throw TsrunError.invalid(`malformed devices.list rule ${JSON.stringify(line)}: unknown device type ${JSON.stringify(type)}`);
      if (access === '' || access.replace(/[rwm]/g, '') !== '') throw TsrunError.invalid(`malformed devices.list rule ${JSON.stringify(line)}: bad access ${JSON.stringify(access)}`);
      e.allow({ type, major: num(major), minor: num(minor) }, permSet(access));
    }
    return e;
  }

  isBlacklist(): boolean {
    return this.defaultAllow;
  }

  private reset(defaultAllow: boolean): void {
    this.defaultAllow = defaultAllow;
    this.rules.clear();
  }

  apply(rule: DeviceRule): void {
    if (rule.type === 'a') {
      // "a" resets the cgroup whatever its numbers and access say (as the kernel does).
      this.reset(rule.allow);
      return;
    }
    checkNumber(rule.major, 'major', rule);
    checkNumber(rule.minor, 'minor', rule);
    const meta: Meta = { type: rule.type, major: rule.major, minor: rule.minor };
    const perms = permSet(rule.access);
    if (rule.allow) this.allow(meta, perms);
    else this.deny(meta, perms);
  }

  private allow(meta: Meta, perms: number): void {
    if (this.defaultAllow) this.remove(meta, perms, "unable to remove 'deny' exception");
    else this.add(meta, perms);
  }

  private deny(meta: Meta, perms: number): void {
    if (this.defaultAllow) this.add(meta, perms);
    else this.remove(meta, perms, "unable to remove 'allow' exception");
  }

  private add(meta: Meta, perms: number): void {
    const key = metaKey(meta);
    this.rules.set(key, { meta, perms: (this.rules.get(key)?.perms ?? 0) | perms });
  }

  /**
   * Exceptions are only ever removed by an exact match (the kernel ignores a removal that
   * overlaps a wider wildcard exception). Like runc we refuse such a rule instead of silently
   * leaving the access in place.
   */
  private remove(meta: Meta, perms: number, context: string): void {
    const partials: Meta[] = [
      { type: meta.type, major: -1n, minor: meta.minor },
      { type: meta.type, major: meta.major, minor: -1n },
      { type: meta.type, major: -1n, minor: -1n },
    ];
    for (const p of partials) {
      if (metaKey(p) === metaKey(meta)) continue;
      const existing = this.rules.get(metaKey(p));
      if (existing && (existing.perms & perms) !== 0) {
        throw TsrunError.invalid(`${context}: requested rule "${ruleText(meta, perms)}" not supported by devices cgroupv1 (cannot punch hole in existing wildcard rule "${ruleText(p, existing.perms)}")`);
      }
    }
    const key = metaKey(meta);
    const left = (this.rules.get(key)?.perms ?? 0) & ~perms;
    if (left === 0) this.rules.delete(key);
    else this.rules.set(key, { meta, perms: left });
  }

  /**
   * The rules that take a cgroup in this state to target with the least disruption: a
   * reset ("a") only when the default changes or this state is a black-list (whose deny
   * exceptions devices.list cannot show), then removals of dropped access, then additions.
   */
  transition(target: DeviceEmulator): DeviceRule[] {
    const out: DeviceRule[] = [];
    let old = this.rules;
    if (this.defaultAllow || this.defaultAllow !== target.defaultAllow) {
      out.push({ allow: target.defaultAllow, type: 'a', major: -1n, minor: -1n, access: 'rwm' });
      old = new Map();
    }
    const rule = (meta: Meta, perms: number, allow: boolean): DeviceRule => ({ allow, ...meta, access: permString(perms) });
    for (const { meta, perms } of ordered(old)) {
      const dropped = perms & ~(target.rules.get(metaKey(meta))?.perms ?? 0);
      if (dropped !== 0) out.push(rule(meta, dropped, target.defaultAllow));
    }
    for (const { meta, perms } of ordered(target.rules)) {
      const gained = perms & ~(old.get(metaKey(meta))?.perms ?? 0);
      if (gained !== 0) out.push(rule(meta, gained, !target.defaultAllow));
    }
    return out;
  }

  /** The reduced rule set from a deny-all start: at most one leading "a", then exceptions only. */
  reducedRules(): DeviceRule[] {
    return new DeviceEmulator().transition(this);
  }

  /** Same mode and same exceptions. */
  equals(o: DeviceEmulator): boolean {
    if (this.defaultAllow !== o.defaultAllow || this.rules.size !== o.rules.size) return false;
    for (const [k, v] of this.rules) if (o.rules.get(k)?.perms !== v.perms) return false;
    return true;
  }
}

/**
 * Sorted by (major, minor, type) so the same state always gives the same rules. Types compare
 * as plain strings: localeCompare would start ICU's collator, ~10 ms of every create.
 */
function ordered(rules: Map<string, { meta: Meta; perms: number }>): { meta: Meta; perms: number }[] {
  const cmp = <T extends bigint | string>(a: T, b: T) => (a < b ? -1 : a > b ? 1 : 0);
  return [...rules.values()].sort((x, y) => cmp(x.meta.major, y.meta.major) || cmp(x.meta.minor, y.meta.minor) || cmp(x.meta.type, y.meta.type));
}

function ruleText(meta: Meta, perms: number): string {
  return deviceRuleString({ allow: true, ...meta, access: permString(perms) });
}
