// The cgroup v1 devices controller as the kernel implements it (security/device_cgroup.c):
// behaviour + exception list, devices.allow/deny/list, and the permission check. Tests plug it
// into a fake cgroup tree to watch what every write does to a container's device access.

interface Exception { type: string; major: number; minor: number; access: number }

const BITS: Record<string, number> = { r: 1, w: 2, m: 4 };
const acc = (s: string) => [...s].reduce((a, ch) => a | (BITS[ch] ?? 0), 0);
const accStr = (a: number) => 'rwm'.split('').filter((ch) => a & BITS[ch]!).join('');

export class V1DevicesKernel {
  allowAll = true;
  exceptions: Exception[] = [];

  write(file: 'devices.allow' | 'devices.deny', value: string): void {
    const allow = file === 'devices.allow';
    const v = value.trim();
    if (v === 'a' || v.startsWith('a ')) {
      this.allowAll = allow;
      this.exceptions = [];
      return;
    }
    const m = /^([bc]) (\*|\d+):(\*|\d+) ([rwm]+)$/.exec(v);
    if (!m) throw new Error(`EINVAL: ${JSON.stringify(v)}`);
    const ex: Exception = { type: m[1]!, major: m[2] === '*' ? -1 : Number(m[2]), minor: m[3] === '*' ? -1 : Number(m[3]), access: acc(m[4]!) };
    // An allow in a white-list and a deny in a black-list add an exception; the others remove one.
    if (allow !== this.allowAll) {
      const same = this.exceptions.find((e) => e.type === ex.type && e.major === ex.major && e.minor === ex.minor);
      if (same) same.access |= ex.access;
      else this.exceptions.push(ex);
    } else {
      for (const e of this.exceptions) if (e.type === ex.type && e.major === ex.major && e.minor === ex.minor) e.access &= ~ex.access;
      this.exceptions = this.exceptions.filter((e) => e.access !== 0);
    }
  }

  list(): string {
    if (this.allowAll) return 'a *:* rwm\n';
    const n = (x: number) => (x === -1 ? '*' : String(x));
    return this.exceptions.map((e) => `${e.type} ${n(e.major)}:${n(e.minor)} ${accStr(e.access)}\n`).join('');
  }

  allowed(type: string, major: number, minor: number, access: string): boolean {
    const a = acc(access);
    const hits = this.exceptions.filter((e) => e.type === type && (e.major === -1 || e.major === major) && (e.minor === -1 || e.minor === minor));
    // A black-list refuses any overlap with a deny; a white-list needs one allow covering everything.
    if (this.allowAll) return !hits.some((e) => (e.access & a) !== 0);
    return hits.some((e) => (a & ~e.access) === 0);
  }
}
