// Where a JSON text first goes wrong, with a short reason: V8's JSON.parse messages sometimes quote the whole input
// and leave the position out, and a refused daemon.json should be reported by line.

export interface JsonProblem { offset: number; line: number; message: string }

export function findJsonProblem(text: string): JsonProblem | undefined {
  let pos = 0;
  const fail = (message: string): never => { throw { offset: pos, message }; };
  const ws = () => { while (pos < text.length && ' \t\n\r'.includes(text[pos])) pos++; };
  const what = () => (pos >= text.length ? 'end of file' : text[pos] === "'" ? '"\'"' : `'${text[pos]}'`);
  const string = () => {
    pos++;
    for (;;) {
      if (pos >= text.length) fail('unterminated string');
      const c = text[pos];
      if (c === '"') { pos++; return; }
      if (c < ' ') fail('control character in a string');
      if (c === '\\') {
        const e = text[pos + 1];
        if (e === 'u') { if (!/^[0-9a-fA-F]{4}$/.test(text.slice(pos + 2, pos + 6))) fail('invalid \\u escape'); pos += 6; continue; }
        if (!e || !'"\\/bfnrt'.includes(e)) fail(`invalid escape \\${e ?? ''}`);
        pos += 2;
        continue;
      }
      pos++;
    }
  };
  const value = (): void => {
    ws();
    const c = text[pos];
    if (c === '{') {
      pos++; ws();
      if (text[pos] === '}') { pos++; return; }
      for (;;) {
        ws();
        if (text[pos] !== '"') fail(`expected a quoted key, found ${what()}`);
        string(); ws();
        if (text[pos] !== ':') fail(`expected ':' after the key, found ${what()}`);
        pos++; value(); ws();
        if (text[pos] === ',') { pos++; continue; }
        if (text[pos] === '}') { pos++; return; }
        fail(`expected ',' or '}', found ${what()}`);
      }
    }
    if (c === '[') {
      pos++; ws();
      if (text[pos] === ']') { pos++; return; }
      for (;;) {
        value(); ws();
        if (text[pos] === ',') { pos++; continue; }
        if (text[pos] === ']') { pos++; return; }
        fail(`expected ',' or ']', found ${what()}`);
      }
    }
    if (c === '"') { string(); return; }
    const m = /^(?:true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(text.slice(pos, pos + 400));
    if (!m) fail(`unexpected ${what()} where a value was expected`);
    pos += m![0].length;
  };
  try {
    value(); ws();
    if (pos < text.length) fail(`unexpected ${what()} after the value`);
    return undefined;
  } catch (e) {
    const { offset, message } = e as { offset: number; message: string };
    return { offset, line: text.slice(0, offset).split('\n').length, message };
  }
}
