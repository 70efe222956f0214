// Reading and replacing an engine's configuration file: a reader never sees half a file, and the file keeps its
// owner and mode.
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, realpathSync, renameSync, statSync, unlinkSync, writeSync, fchownSync, fchmodSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** The file's text, or undefined when it does not exist. Other errors (permission, a directory) are thrown. */
export function readConfig(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export function writeConfigAtomically(file: string, text: string): void {
  // Through a symlink, replace the file it points to, not the link.
  let target = file;
  try { target = realpathSync(file); } catch { /* a new file */ }
  let mode = 0o644, uid = -1, gid = -1;
  try {
    const st = statSync(target);
    mode = st.mode & 0o7777; uid = st.uid; gid = st.gid;
  } catch {
    mkdirSync(dirname(target), { recursive: true, mode: 0o755 });
  }
  const tmp = join(dirname(target), `.${basename(target)}.tsrun-${process.pid}`);
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, text);
    fchmodSync(fd, mode);
    if (uid >= 0) fchownSync(fd, uid, gid);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkSync(tmp);
    throw err;
  }
  closeSync(fd);
  try {
    renameSync(tmp, target);
  } catch (err) {
    unlinkSync(tmp);
    throw err;
  }
}
