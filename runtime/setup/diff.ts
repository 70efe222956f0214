// A unified diff (as `diff -u` prints it) between two versions of a configuration file, for --dry-run.

export function unifiedDiff(oldText: string, newText: string, oldName: string, newName: string, context = 3): string {
  if (oldText === newText) return '';
  const a = splitLines(oldText);
  const b = splitLines(newText);
  const ops = lineOps(a, b);
  const out = [`--- ${oldName}`, `+++ ${newName}`];
  // Group the operations into hunks separated by more than twice the context of unchanged lines.
  let i = 0;
  while (i < ops.length) {
    if (ops[i].op === ' ') { i++; continue; }
    let start = i;
    let back = 0;
    while (start > 0 && ops[start - 1].op === ' ' && back < context) { start--; back++; }
    let end = i;
    for (;;) {
      while (end < ops.length && ops[end].op !== ' ') end++;
      let run = 0;
      while (end + run < ops.length && ops[end + run].op === ' ') run++;
      if (end + run < ops.length && run <= 2 * context) { end += run; continue; }
      end += Math.min(run, context);
      break;
    }
    const hunk = ops.slice(start, end);
    const aStart = ops[start].a, bStart = ops[start].b;
    const aLen = hunk.filter((o) => o.op !== '+').length;
    const bLen = hunk.filter((o) => o.op !== '-').length;
    out.push(`@@ -${range(aStart, aLen)} +${range(bStart, bLen)} @@`);
    for (const o of hunk) {
      out.push(o.op + o.line);
      if (o.noNewline) out.push('\\ No newline at end of file');
    }
    i = end;
  }
  return out.join('\n') + '\n';
}

interface Op { op: ' ' | '-' | '+'; line: string; a: number; b: number; noNewline?: boolean }

function range(start: number, len: number): string {
  // diff -u numbers an empty range by the line before it.
  const first = len === 0 ? start : start + 1;
  return len === 1 ? `${first}` : `${first},${len}`;
}

function splitLines(text: string): { line: string; last: boolean; noNewline: boolean }[] {
  if (text === '') return [];
  const lines = text.split('\n');
  const noNewline = lines[lines.length - 1] !== '';
  if (!noNewline) lines.pop();
  return lines.map((line, i) => ({ line, last: i === lines.length - 1, noNewline: noNewline && i === lines.length - 1 }));
}

/** Line operations from a longest common subsequence (files here are small: a few thousand lines at most). */
function lineOps(a: ReturnType<typeof splitLines>, b: ReturnType<typeof splitLines>): Op[] {
  const key = (l: { line: string; noNewline: boolean }) => l.line + (l.noNewline ? '\0' : '');
  let pre = 0;
  while (pre < a.length && pre < b.length && key(a[pre]) === key(b[pre])) pre++;
  let suf = 0;
  while (suf < a.length - pre && suf < b.length - pre && key(a[a.length - 1 - suf]) === key(b[b.length - 1 - suf])) suf++;
  const am = a.slice(pre, a.length - suf), bm = b.slice(pre, b.length - suf);
  const n = am.length, m = bm.length;
  const lcs: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i][j] = key(am[i]) === key(bm[j]) ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const ops: Op[] = [];
  for (let k = 0; k < pre; k++) ops.push({ op: ' ', line: a[k].line, a: k, b: k, noNewline: a[k].noNewline });
  let i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && key(am[i]) === key(bm[j])) {
      ops.push({ op: ' ', line: am[i].line, a: pre + i, b: pre + j, noNewline: am[i].noNewline }); i++; j++;
    } else if (i < n && (j === m || lcs[i + 1][j] >= lcs[i][j + 1])) {
      // Removals first, as diff -u shows a changed line.
      ops.push({ op: '-', line: am[i].line, a: pre + i, b: pre + j, noNewline: am[i].noNewline }); i++;
    } else {
      ops.push({ op: '+', line: bm[j].line, a: pre + i, b: pre + j, noNewline: bm[j].noNewline }); j++;
    }
  }
  for (let k = 0; k < suf; k++) {
    const ai = a.length - suf + k, bi = b.length - suf + k;
    ops.push({ op: ' ', line: a[ai].line, a: ai, b: bi, noNewline: a[ai].noNewline });
  }
  return ops;
}
