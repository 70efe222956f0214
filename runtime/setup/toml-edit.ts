// Edits of a TOML file made by inserting or replacing text at the places the reader located, so that the rest of
// the file (comments, order, indentation, quoting) stays byte for byte. Every edit re-reads its own result.
import { formatKey, lookup, parseToml, type TomlDocument, type TomlNode } from './toml.js';

export class TomlEditError extends Error {
  constructor(message: string, readonly line?: number) {
    super(message);
    this.name = 'TomlEditError';
  }
}

const same = (a: string[], b: string[]) => a.length === b.length && a.every((k, i) => k === b[i]);
const startsWith = (a: string[], prefix: string[]) => prefix.length <= a.length && prefix.every((k, i) => k === a[i]);

/** Sets the key at `path` to the TOML text `valueText`, creating its table when needed. */
export function setValue(text: string, path: string[], valueText: string): string {
  const doc = parseToml(text);
  const tablePath = path.slice(0, -1);
  const key = path[path.length - 1];
  const existing = doc.keyValues.find((kv) => same(kv.path, path));
  if (existing) {
    if (text.slice(existing.valueStart, existing.valueEnd) === valueText) return text;
    return checked(splice(text, existing.valueStart, existing.valueEnd, valueText), path);
  }
  const node = lookup(doc, path);
  if (node) throw refusal(path, node, 'is defined in a form this command does not edit');
  const nl = text.includes('\r\n') ? '\r\n' : '\n';
  const table = lookup(doc, tablePath);
  if (table && table.type !== 'table') throw refusal(tablePath, table, 'is not a table');
  if (table && table.kind === 'inline') throw refusal(tablePath, table, 'is an inline table');
  if (table && (table.kind === 'header' || table.kind === 'root')) {
    const h = table.kind === 'root' ? -1 : doc.headers.findIndex((x) => !x.array && same(x.path, tablePath));
    const kvs = doc.keyValues.filter((kv) => kv.section === h);
    const header = h >= 0 ? doc.headers[h] : undefined;
    const indent = kvs.length ? kvs[kvs.length - 1].indent : header ? header.indent + indentUnit(doc) : '';
    const at = kvs.length ? kvs[kvs.length - 1].lineEnd : header ? header.lineEnd : 0;
    return checked(insertLines(text, at, `${indent}${formatKey([key])} = ${valueText}${nl}`, nl), path);
  }
  if (table && table.kind === 'dotted') {
    // Keys of a table made by dotted keys go where its other keys are, dotted the same way.
    const kvs = doc.keyValues.filter((kv) => startsWith(kv.path, tablePath));
    const last = kvs[kvs.length - 1];
    const sectionPath = last.section >= 0 ? doc.headers[last.section].path : [];
    const local = [...tablePath.slice(sectionPath.length), key];
    return checked(insertLines(text, last.lineEnd, `${last.indent}${formatKey(local)} = ${valueText}${nl}`, nl), path);
  }
  // A new table (or an implicit one, which only ever had sub-tables): a header of its own.
  for (let i = 1; i < tablePath.length; i++) {
    const ancestor = lookup(doc, tablePath.slice(0, i));
    if (!ancestor) break;
    if (ancestor.type === 'value') throw refusal(tablePath.slice(0, i), ancestor, 'is not a table');
    if (ancestor.type === 'array-of-tables') throw refusal(tablePath.slice(0, i), ancestor, 'is an array of tables');
    if (ancestor.kind === 'inline') throw refusal(tablePath.slice(0, i), ancestor, 'is an inline table');
  }
  const { at, headerIndent, keyIndent } = placeNewTable(doc, tablePath);
  const blank = separatesTablesWithBlankLines(doc) && at > 0 ? nl : '';
  const lines = `${blank}${headerIndent}[${formatKey(tablePath)}]${nl}${keyIndent}${formatKey([key])} = ${valueText}${nl}`;
  return checked(insertLines(text, at, lines, nl), path);
}

/** Removes the line of the key at `path` when it is a line of its own; anything else is left as it is. */
export function removeKey(text: string, path: string[]): string {
  const doc = parseToml(text);
  const kv = doc.keyValues.find((x) => same(x.path, path));
  if (!kv) return text;
  return splice(text, kv.lineStart, kv.lineEnd, '');
}

/** Adds a string to the array at `path` unless it is there; inserted after the last string element. */
export function addToStringArray(text: string, path: string[], item: string, itemText: string): string {
  const doc = parseToml(text);
  const kv = doc.keyValues.find((x) => same(x.path, path));
  const node = lookup(doc, path);
  if (!kv || !node || node.type !== 'value' || node.kind !== 'array') {
    if (node) throw refusal(path, node, 'is not an array');
    throw new TomlEditError(`${formatKey(path)} is not set`);
  }
  const elements = node.elements ?? [];
  if (elements.some((e) => e.kind === 'string' && e.value === item)) return text;
  const strings = elements.filter((e) => e.kind === 'string');
  if (strings.length === 0) {
    if (elements.length) throw refusal(path, node, 'holds no strings');
    return checked(splice(text, node.start, node.end, `[${itemText}]`), path);
  }
  const last = strings[strings.length - 1];
  return checked(splice(text, last.end, last.end, `, ${itemText}`), path);
}

function splice(text: string, start: number, end: number, insert: string): string {
  return text.slice(0, start) + insert + text.slice(end);
}

function insertLines(text: string, at: number, lines: string, nl: string): string {
  // Appending to a file whose last line has no line break: give it one first.
  if (at === text.length && text.length > 0 && !text.endsWith('\n')) return text + nl + lines;
  return splice(text, at, at, lines);
}

/** The result must read back, with the key where it was meant to go. */
function checked(text: string, path: string[]): string {
  const doc = parseToml(text);
  if (!lookup(doc, path)) throw new Error(`internal error: ${formatKey(path)} missing after the edit`);
  return text;
}

function refusal(path: string[], node: TomlNode, what: string): TomlEditError {
  return new TomlEditError(`${formatKey(path)} ${what} (line ${node.line}); edit it by hand`, node.line);
}

/** Where a new table goes: after the last table sharing the longest prefix with it, indented like its siblings. */
function placeNewTable(doc: TomlDocument, path: string[]): { at: number; headerIndent: string; keyIndent: string } {
  const sectionEnd = (h: number) => {
    const kvs = doc.keyValues.filter((kv) => kv.section === h);
    return kvs.length ? kvs[kvs.length - 1].lineEnd : doc.headers[h].lineEnd;
  };
  let at = doc.text.length;
  for (let n = path.length - 1; n >= 0; n--) {
    const prefix = path.slice(0, n);
    const related = doc.headers.map((_, i) => i).filter((i) => startsWith(doc.headers[i].path, prefix));
    if (!related.length) continue;
    at = sectionEnd(related[related.length - 1]);
    break;
  }
  // Indented like a sibling table if there is one, else one step deeper than the closest ancestor's header.
  const unit = indentUnit(doc);
  const parent = path.slice(0, -1);
  const sibling = doc.headers.find((h) => h.path.length === path.length && startsWith(h.path, parent));
  if (sibling) {
    const kv = doc.keyValues.find((x) => x.section === doc.headers.indexOf(sibling));
    return { at, headerIndent: sibling.indent, keyIndent: kv ? kv.indent : sibling.indent + unit };
  }
  const ancestor = doc.headers.filter((h) => !h.array && startsWith(path, h.path)).sort((a, b) => b.path.length - a.path.length)[0];
  const headerIndent = ancestor ? ancestor.indent + unit : '';
  return { at, headerIndent, keyIndent: headerIndent + unit };
}

/** The file's indentation step for nested content, '' when it does not indent. */
function indentUnit(doc: TomlDocument): string {
  for (const kv of doc.keyValues) {
    if (kv.section < 0) continue;
    const h = doc.headers[kv.section];
    if (kv.indent.length > h.indent.length && kv.indent.startsWith(h.indent)) return kv.indent.slice(h.indent.length);
  }
  return '';
}

/** Whether a new table gets a blank line before it: unless most tables in the file follow the one before directly. */
function separatesTablesWithBlankLines(doc: TomlDocument): boolean {
  const later = doc.headers.slice(1);
  if (!later.length) return true;
  const blank = later.filter((h) => /\n[ \t]*\r?\n$/.test(doc.text.slice(0, h.lineStart))).length;
  return blank * 2 >= later.length;
}
