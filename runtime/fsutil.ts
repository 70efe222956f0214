import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { TsrunError, describeSystemError } from './errors.js';

/**
 * Go's os.MkdirAll, as runc makes its --root: the error names the directory that could not be
 * made with the real errno (Node's recursive mkdir reports ENOENT for a read-only parent), and
 * a file in the way is "not a directory".
 */
export function mkdirAll(path: string, mode: number): void {
  try {
    if (statSync(path).isDirectory()) return;
    throw new TsrunError(`mkdir ${path}: not a directory`);
  } catch (err) {
    if (err instanceof TsrunError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') {
      // A file further up: Go reports the deepest existing component.
      mkdirAll(dirname(path), mode);
      throw new TsrunError(`mkdir ${path}: not a directory`);
    }
    if (code !== 'ENOENT') throw new TsrunError(describeSystemError(err));
  }
  const parent = dirname(path);
  if (parent !== path) mkdirAll(parent, mode);
  try {
    mkdirSync(path, mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST' && statSync(path).isDirectory()) return;
    throw new TsrunError(describeSystemError(err));
  }
}
