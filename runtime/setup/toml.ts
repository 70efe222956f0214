// A TOML 1.0 reader for engine configuration files. It validates the whole file (syntax, duplicate keys, tables
// defined twice) so that a file the engine would refuse is never edited, and it records where each table header
// and top-level key/value sits, so that edits can be made by inserting text: comments and layout survive.
// Deliberately lenient only where TOML 1.1 relaxed 1.0 (newlines in inline tables, \e and \x escapes).

export class TomlError extends Error {
  constructor(message: string, readonly line: number) {
    super(message);
    this.name = 'TomlError';
  }
}

export type TableKind = 'root' | 'header' | 'implicit' | 'dotted' | 'inline';

export interface TomlTable {
  type: 'table';
  kind: TableKind;
  entries: Map<string, TomlNode>;
  /** 1-based line where the table was first mentioned. */
  line: number;
}

export interface TomlArrayOfTables {
  type: 'array-of-tables';
  tables: TomlTable[];
  line: number;
}

export interface TomlValue {
  type: 'value';
  kind: 'string' | 'integer' | 'float' | 'boolean' | 'datetime' | 'array' | 'inline-table';
  value: unknown;
  /** Offsets in the text: the whole value, and for arrays each element. */
  start: number;
  end: number;
  elements?: TomlValue[];
  line: number;
}

export type TomlNode = TomlTable | TomlArrayOfTables | TomlValue;

export interface TomlHeader {
  path: string[];
  array: boolean;
  /** Offsets: the start of the header's line and just past its line break. */
  lineStart: number;
  lineEnd: number;
  indent: string;
  line: number;
}

export interface TomlKeyValue {
  /** The key's full path from the root table. */
  path: string[];
  /** Index in `headers` of the section the line is in, -1 for the root section. */
  section: number;
  lineStart: number;
  /** Just past the line break ending the value's last line (comment included). */
  lineEnd: number;
  valueStart: number;
  valueEnd: number;
  indent: string;
  line: number;
}

export interface TomlDocument {
  text: string;
  root: TomlTable;
  headers: TomlHeader[];
  keyValues: TomlKeyValue[];
}

const BARE_KEY = /[A-Za-z0-9_-]/;

export function parseToml(text: string): TomlDocument {
  return new Parser(text).parse();
}

/** The node at a path of keys (descending into the last table of an array of tables), or undefined. */
export function lookup(doc: TomlDocument, path: string[]): TomlNode | undefined {
  let node: TomlNode = doc.root;
  for (const key of path) {
    if (node.type === 'array-of-tables') node = node.tables[node.tables.length - 1];
    if (node.type !== 'table') return undefined;
    const next = node.entries.get(key);
    if (!next) return undefined;
    node = next;
  }
  return node;
}

/** A key path as TOML writes it: bare keys where possible, basic strings otherwise. */
export function formatKey(path: string[]): string {
  return path.map((k) => (/^[A-Za-z0-9_-]+$/.test(k) ? k : formatString(k))).join('.');
}

export function formatString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (c < 0x20 || c === 0x7f) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return out + '"';
}

class Parser {
  private pos = 0;
  private readonly root: TomlTable = { type: 'table', kind: 'root', entries: new Map(), line: 1 };
  private current: TomlTable = this.root;
  private currentPath: string[] = [];
  private readonly headers: TomlHeader[] = [];
  private readonly keyValues: TomlKeyValue[] = [];
  /** Line starts, for turning offsets into line numbers. */
  private readonly lineStarts: number[] = [0];

  constructor(private readonly text: string) {
    for (let i = 0; i < text.length; i++) if (text[i] === '\n') this.lineStarts.push(i + 1);
  }

  parse(): TomlDocument {
    if (this.text.charCodeAt(0) === 0xfeff) this.pos = 1;
    while (this.pos < this.text.length) this.expression();
    return { text: this.text, root: this.root, headers: this.headers, keyValues: this.keyValues };
  }

  private lineAt(offset: number): number {
    let lo = 0, hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid] <= offset) lo = mid; else hi = mid - 1;
    }
    return lo + 1;
  }

  private fail(message: string, at = this.pos): never {
    throw new TomlError(message, this.lineAt(Math.min(at, this.text.length)));
  }

  private peek(n = 0): string { return this.text[this.pos + n] ?? ''; }

  private skipWs(): void {
    while (this.peek() === ' ' || this.peek() === '\t') this.pos++;
  }

  private skipComment(): void {
    if (this.peek() !== '#') return;
    while (this.pos < this.text.length && this.peek() !== '\n') {
      const c = this.text.charCodeAt(this.pos);
      if ((c < 0x20 && c !== 0x09 && !(c === 0x0d && this.peek(1) === '\n')) || c === 0x7f) this.fail('control character in a comment');
      this.pos++;
    }
  }

  /** Whitespace, an optional comment, then a line break or the end: what must follow every expression. */
  private endOfLine(what: string): void {
    this.skipWs();
    this.skipComment();
    if (this.peek() === '\r' && this.peek(1) === '\n') this.pos += 2;
    else if (this.peek() === '\n') this.pos++;
    else if (this.pos < this.text.length) this.fail(`unexpected ${describe(this.peek())} after ${what}`);
  }

  private expression(): void {
    const lineStart = this.pos;
    this.skipWs();
    const indent = this.text.slice(lineStart, this.pos);
    const c = this.peek();
    if (c === '#' || c === '\n' || c === '\r' || c === '') { this.endOfLine('a comment'); return; }
    if (c === '[') { this.header(lineStart, indent); return; }
    const keyStart = this.pos;
    const key = this.key();
    this.skipWs();
    if (this.peek() !== '=') this.fail(`expected '=' after the key ${formatKey(key)}`);
    this.pos++;
    this.skipWs();
    const value = this.value();
    this.assign(this.current, key, value, keyStart);
    this.endOfLine('a value');
    this.keyValues.push({
      path: [...this.currentPath, ...key], section: this.headers.length - 1, lineStart, lineEnd: this.pos,
      valueStart: value.type === 'value' ? value.start : keyStart, valueEnd: value.type === 'value' ? value.end : this.pos,
      indent, line: this.lineAt(keyStart),
    });
  }

  private header(lineStart: number, indent: string): void {
    const start = this.pos;
    const array = this.peek(1) === '[';
    this.pos += array ? 2 : 1;
    this.skipWs();
    const path = this.key();
    this.skipWs();
    if (array ? this.text.slice(this.pos, this.pos + 2) !== ']]' : this.peek() !== ']') this.fail(`expected '${array ? ']]' : ']'}' to close the table header`);
    this.pos += array ? 2 : 1;
    const line = this.lineAt(start);
    const shown = `${array ? '[[' : '['}${formatKey(path)}${array ? ']]' : ']'}`;
    // Walk to the parent, creating implicit tables; the last element of an array of tables is the one extended.
    let table = this.root;
    for (const k of path.slice(0, -1)) {
      let next = table.entries.get(k);
      if (!next) { next = { type: 'table', kind: 'implicit', entries: new Map(), line }; table.entries.set(k, next); }
      if (next.type === 'array-of-tables') next = next.tables[next.tables.length - 1];
      if (next.type !== 'table') this.fail(`${shown}: the key ${k} is already a value (line ${next.line})`, start);
      if (next.kind === 'inline') this.fail(`${shown}: ${k} is an inline table (line ${next.line}) and cannot be extended`, start);
      table = next;
    }
    const last = path[path.length - 1];
    const existing = table.entries.get(last);
    let target: TomlTable;
    if (array) {
      const t: TomlTable = { type: 'table', kind: 'header', entries: new Map(), line };
      if (!existing) table.entries.set(last, { type: 'array-of-tables', tables: [t], line });
      else if (existing.type === 'array-of-tables') existing.tables.push(t);
      else this.fail(`${shown}: ${formatKey(path)} is already defined (line ${existing.line})`, start);
      target = t;
    } else if (!existing) {
      target = { type: 'table', kind: 'header', entries: new Map(), line };
      table.entries.set(last, target);
    } else if (existing.type === 'table' && existing.kind === 'implicit') {
      existing.kind = 'header';
      target = existing;
    } else if (existing.type === 'value') {
      this.fail(`${shown}: the key ${last} is already a value (line ${existing.line})`, start);
    } else {
      this.fail(`${shown}: the table is already defined (line ${existing.line})`, start);
    }
    this.endOfLine('a table header');
    this.current = target;
    this.currentPath = path;
    this.headers.push({ path, array, lineStart, lineEnd: this.pos, indent, line });
  }

  private key(): string[] {
    const parts = [this.simpleKey()];
    for (;;) {
      const save = this.pos;
      this.skipWs();
      if (this.peek() !== '.') { this.pos = save; return parts; }
      this.pos++;
      this.skipWs();
      parts.push(this.simpleKey());
    }
  }

  private simpleKey(): string {
    const c = this.peek();
    if (c === '"') {
      if (this.text.startsWith('"""', this.pos)) this.fail('a key cannot be a multi-line string');
      return this.basicString();
    }
    if (c === "'") {
      if (this.text.startsWith("'''", this.pos)) this.fail('a key cannot be a multi-line string');
      return this.literalString();
    }
    const start = this.pos;
    while (BARE_KEY.test(this.peek())) this.pos++;
    if (this.pos === start) this.fail(c === '' || c === '\n' || c === '\r' ? 'expected a key' : `unexpected ${describe(c)} where a key was expected`);
    return this.text.slice(start, this.pos);
  }

  /** Puts a value at a dotted key below `table`, creating the dotted tables on the way. */
  private assign(table: TomlTable, key: string[], value: TomlNode, at: number): void {
    let t = table;
    for (const k of key.slice(0, -1)) {
      let next = t.entries.get(k);
      if (!next) { next = { type: 'table', kind: 'dotted', entries: new Map(), line: this.lineAt(at) }; t.entries.set(k, next); }
      if (next.type !== 'table' || (next.kind !== 'dotted' && next.kind !== 'implicit')) {
        this.fail(`the key ${formatKey(key)} extends ${k}, which is already defined (line ${next.line})`, at);
      }
      if (next.kind === 'implicit') next.kind = 'dotted';
      t = next;
    }
    const last = key[key.length - 1];
    const existing = t.entries.get(last);
    if (existing) this.fail(`duplicate key ${formatKey(key)} (first defined on line ${existing.line})`, at);
    t.entries.set(last, value);
  }

  private value(): TomlNode {
    const start = this.pos;
    const line = this.lineAt(start);
    const c = this.peek();
    const v = (kind: TomlValue['kind'], value: unknown): TomlValue => ({ type: 'value', kind, value, start, end: this.pos, line });
    if (c === '"') {
      const s = this.text.startsWith('"""', this.pos) ? this.multilineBasicString() : this.basicString();
      return v('string', s);
    }
    if (c === "'") {
      const s = this.text.startsWith("'''", this.pos) ? this.multilineLiteralString() : this.literalString();
      return v('string', s);
    }
    if (c === '[') return this.array(start, line);
    if (c === '{') return this.inlineTable(line);
    if (this.text.startsWith('true', this.pos) && this.delimited(4)) { this.pos += 4; return v('boolean', true); }
    if (this.text.startsWith('false', this.pos) && this.delimited(5)) { this.pos += 5; return v('boolean', false); }
    const rest = this.text.slice(this.pos, this.pos + 64);
    let m = /^\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})?)?/.exec(rest)
      ?? /^\d{2}:\d{2}:\d{2}(?:\.\d+)?/.exec(rest);
    if (m && this.delimited(m[0].length)) {
      this.pos += m[0].length;
      return v('datetime', m[0]);
    }
    m = /^[+-]?(?:inf|nan)/.exec(rest);
    if (m && this.delimited(m[0].length)) { this.pos += m[0].length; return v('float', Number(m[0].replace('inf', 'Infinity').replace('nan', 'NaN'))); }
    m = /^0x[0-9A-Fa-f](?:_?[0-9A-Fa-f])*|^0o[0-7](?:_?[0-7])*|^0b[01](?:_?[01])*/.exec(rest);
    if (m && this.delimited(m[0].length)) { this.pos += m[0].length; return v('integer', Number(m[0].replace(/_/g, ''))); }
    m = /^[+-]?(?:0|[1-9](?:_?\d)*)(\.\d(?:_?\d)*)?([eE][+-]?\d(?:_?\d)*)?/.exec(rest);
    if (m && this.delimited(m[0].length)) {
      this.pos += m[0].length;
      return v(m[1] || m[2] ? 'float' : 'integer', Number(m[0].replace(/_/g, '')));
    }
    if (c === '' || c === '\n' || c === '\r') this.fail("expected a value after '='");
    this.fail(`invalid value starting with ${describe(c)}`);
  }

  private delimited(length: number): boolean {
    const c = this.text[this.pos + length] ?? '';
    return c === '' || /[\s,\]}#]/.test(c);
  }

  private array(start: number, line: number): TomlValue {
    this.pos++;
    const elements: TomlValue[] = [];
    const values: unknown[] = [];
    for (;;) {
      this.skipBlank();
      if (this.peek() === ']') break;
      const elStart = this.pos;
      const el = this.value();
      if (el.type !== 'value') {
        // Inline tables inside arrays: keep a plain object as the element's value.
        elements.push({ type: 'value', kind: 'inline-table', value: plain(el), start: elStart, end: this.pos, line: el.line });
        values.push(plain(el));
      } else {
        elements.push(el);
        values.push(el.value);
      }
      this.skipBlank();
      if (this.peek() === ',') { this.pos++; continue; }
      if (this.peek() === ']') break;
      this.fail(this.pos >= this.text.length ? `unterminated array (opened on line ${line})` : `expected ',' or ']' in the array, found ${describe(this.peek())}`);
    }
    this.pos++;
    return { type: 'value', kind: 'array', value: values, start, end: this.pos, elements, line };
  }

  /** Whitespace, line breaks and comments, as allowed between array elements. */
  private skipBlank(): void {
    for (;;) {
      this.skipWs();
      if (this.peek() === '#') this.skipComment();
      if (this.peek() === '\n') { this.pos++; continue; }
      if (this.peek() === '\r' && this.peek(1) === '\n') { this.pos += 2; continue; }
      return;
    }
  }

  private inlineTable(line: number): TomlTable {
    this.pos++;
    const table: TomlTable = { type: 'table', kind: 'inline', entries: new Map(), line };
    this.skipBlank();
    if (this.peek() === '}') { this.pos++; return table; }
    for (;;) {
      this.skipBlank();
      const at = this.pos;
      const key = this.key();
      this.skipWs();
      if (this.peek() !== '=') this.fail(`expected '=' after the key ${formatKey(key)}`);
      this.pos++;
      this.skipWs();
      this.assign(table, key, this.value(), at);
      this.skipBlank();
      if (this.peek() === ',') { this.pos++; continue; }
      if (this.peek() === '}') { this.pos++; break; }
      this.fail(this.pos >= this.text.length ? `unterminated inline table (opened on line ${line})` : `expected ',' or '}' in the inline table, found ${describe(this.peek())}`);
    }
    // Dotted keys inside an inline table are part of it: freeze the whole tree.
    const freeze = (t: TomlTable) => { t.kind = 'inline'; for (const n of t.entries.values()) if (n.type === 'table') freeze(n); };
    freeze(table);
    return table;
  }

  private basicString(): string {
    const open = this.pos;
    this.pos++;
    let out = '';
    for (;;) {
      const c = this.peek();
      if (c === '' || c === '\n' || c === '\r') this.fail('unterminated string', open);
      if (c === '"') { this.pos++; return out; }
      if (c === '\\') { out += this.escape(false); continue; }
      this.checkChar();
      out += c;
      this.pos++;
    }
  }

  private multilineBasicString(): string {
    const open = this.pos;
    this.pos += 3;
    if (this.peek() === '\n') this.pos++;
    else if (this.peek() === '\r' && this.peek(1) === '\n') this.pos += 2;
    let out = '';
    for (;;) {
      if (this.pos >= this.text.length) this.fail('unterminated multi-line string', open);
      if (this.text.startsWith('"""', this.pos)) {
        // Up to two quotes may sit right before the closing delimiter.
        let n = 3;
        while (n < 5 && this.text[this.pos + n] === '"') n++;
        out += '"'.repeat(n - 3);
        this.pos += n;
        return out;
      }
      const c = this.peek();
      if (c === '\\') { out += this.escape(true); continue; }
      if (c === '\r' && this.peek(1) === '\n') { out += '\n'; this.pos += 2; continue; }
      if (c !== '\n') this.checkChar();
      out += c;
      this.pos++;
    }
  }

  private literalString(): string {
    const open = this.pos;
    this.pos++;
    const start = this.pos;
    for (;;) {
      const c = this.peek();
      if (c === '' || c === '\n' || c === '\r') this.fail('unterminated string', open);
      if (c === "'") { this.pos++; return this.text.slice(start, this.pos - 1); }
      this.checkChar();
      this.pos++;
    }
  }

  private multilineLiteralString(): string {
    const open = this.pos;
    this.pos += 3;
    if (this.peek() === '\n') this.pos++;
    else if (this.peek() === '\r' && this.peek(1) === '\n') this.pos += 2;
    const start = this.pos;
    const end = this.text.indexOf("'''", this.pos);
    if (end < 0) this.fail('unterminated multi-line string', open);
    let n = 3;
    while (n < 5 && this.text[end + n] === "'") n++;
    this.pos = end + n;
    return this.text.slice(start, end + n - 3).replace(/\r\n/g, '\n');
  }

  private checkChar(): void {
    const c = this.text.charCodeAt(this.pos);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) this.fail('control character in a string');
  }

  private escape(multiline: boolean): string {
    const at = this.pos;
    const c = this.peek(1);
    this.pos += 2;
    switch (c) {
      case 'b': return '\b';
      case 't': return '\t';
      case 'n': return '\n';
      case 'f': return '\f';
      case 'r': return '\r';
      case 'e': return '\x1b';
      case '"': return '"';
      case '\\': return '\\';
      case 'x': case 'u': case 'U': {
        const len = c === 'x' ? 2 : c === 'u' ? 4 : 8;
        const hex = this.text.slice(this.pos, this.pos + len);
        if (!new RegExp(`^[0-9A-Fa-f]{${len}}$`).test(hex)) this.fail(`invalid escape \\${c}${hex}`, at);
        const code = parseInt(hex, 16);
        if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) this.fail(`invalid unicode escape \\${c}${hex}`, at);
        this.pos += len;
        return String.fromCodePoint(code);
      }
      default:
        if (multiline) {
          // A backslash ending a line trims the break and the whitespace after it.
          let p = at + 1;
          while (this.text[p] === ' ' || this.text[p] === '\t') p++;
          if (this.text[p] === '\n' || (this.text[p] === '\r' && this.text[p + 1] === '\n')) {
            while (/[ \t\r\n]/.test(this.text[p] ?? '')) p++;
            this.pos = p;
            return '';
          }
        }
        this.fail(`invalid escape \\${c}`, at);
    }
  }
}

function describe(c: string): string {
  if (c === '') return 'end of file';
  if (c === '\n' || c === '\r') return 'end of line';
  return c === "'" ? '"\'"' : `'${c}'`;
}

/** A node as plain JavaScript: objects, arrays, strings, numbers, booleans (datetimes stay strings). */
export function plain(node: TomlNode): unknown {
  if (node.type === 'value') return node.value;
  if (node.type === 'array-of-tables') return node.tables.map(plain);
  const out: Record<string, unknown> = {};
  for (const [k, v] of node.entries) out[k] = plain(v);
  return out;
}
