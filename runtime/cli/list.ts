import { readFileSync } from 'node:fs';
import { TsrunError } from '../errors.js';
import { mkdirAll } from '../fsutil.js';
import type { Command } from './command.js';
import { QuickRuntime } from './quick-runtime.js';
import { writeStdout } from '../stdio.js';

function userName(uid: number): string {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length > 2 && Number(f[2]) === uid && f[2] !== '') return f[0];
    }
  } catch { /* no passwd */ }
  return `#${uid}`;
}

/** Go's text/tabwriter as runc configures it: minwidth 12, padding 3, the last column unpadded. */
export function tabulate(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.slice(0, -1).forEach((cell, i) => { widths[i] = Math.max(widths[i] ?? 0, cell.length + 3, 12); });
  return rows.map((row) => row.map((cell, i) => (i < row.length - 1 ? cell.padEnd(widths[i]) : cell)).join('')).join('\n') + '\n';
}

export const list: Command = {
  name: 'list',
  usage: 'tsrun list [command options]',
  description: 'lists containers started by tsrun with the given root',
  flags: [
    { name: 'format', short: 'f', type: 'string', usage: 'select one of: table or json', default: 'table' },
    { name: 'quiet', short: 'q', type: 'bool', usage: 'display only container IDs' },
  ],
  async run(g, flags) {
    // As runc, which makes its root first: a root that cannot be one is an error, not an empty list.
    mkdirAll(g.root, 0o700);
    const entries: Record<string, unknown>[] = new QuickRuntime(g).list().map(({ ownerUid, ...state }) => ({ ...state, owner: userName(ownerUid) }));
    if (flags.quiet) {
      for (const e of entries) writeStdout(`${e.id}\n`);
      return 0;
    }
    if (flags.format === 'json') {
      writeStdout((entries.length ? JSON.stringify(entries) : 'null') + '\n');
      return 0;
    }
    if (flags.format !== 'table') throw new TsrunError(`invalid format option`);
    const rows = [['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED', 'OWNER']];
    for (const e of entries) rows.push([String(e.id), String(e.pid), String(e.status), String(e.bundle), String(e.created), String(e.owner)]);
    writeStdout(tabulate(rows));
    return 0;
  },
};
