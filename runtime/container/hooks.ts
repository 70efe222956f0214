import { childProcess } from '../lazy-modules.js';
import { TsrunError } from '../errors.js';
import type { Hook, Hooks } from '../spec/types.js';
import { hookArgs, hookStateJson, type HookState } from '../plan/hooks.js';
import { log } from '../log.js';

export type HookName = 'prestart' | 'createRuntime' | 'createContainer' | 'startContainer' | 'poststart' | 'poststop';

export function hasHooks(hooks: Hooks | undefined, ...names: HookName[]): boolean {
  return names.some((n) => (hooks?.[n]?.length ?? 0) > 0);
}

/** Go's os/exec wording for how a process ended, which runc's messages carry. */
function describeEnd(code: number | null, signal: NodeJS.Signals | null): string {
  if (code !== null) return `exit status ${code}`;
  const names: Partial<Record<NodeJS.Signals, string>> = { SIGKILL: 'killed', SIGTERM: 'terminated', SIGINT: 'interrupt', SIGHUP: 'hangup', SIGSEGV: 'segmentation fault', SIGABRT: 'aborted', SIGQUIT: 'quit', SIGPIPE: 'broken pipe', SIGBUS: 'bus error' };
  return `signal: ${(signal && names[signal]) ?? signal}`;
}

/** Runs one hook as runc does (libcontainer/configs Command.Run), with runc's error texts. */
function runHook(name: HookName, index: number, hook: Hook, stateJson: string): Promise<void> {
  const prefix = `error running ${name} hook #${index}`;
  return new Promise((resolve, reject) => {
    const args = hookArgs(hook);
    // No env in the hook: runc's exec.Cmd then passes runc's own environment.
    const env = hook.env ? envObject(hook.env) : process.env;
    const child = childProcess().spawn(hook.path, args.slice(1), { argv0: args[0], env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.stdin.on('error', () => undefined);
    child.stdin.end(stateJson);
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    if (hook.timeout && hook.timeout > 0) {
      timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, hook.timeout * 1000);
    }
    child.once('error', (err: NodeJS.ErrnoException) => {
      if (timer) clearTimeout(timer);
      const reason = err.code === 'ENOENT' ? 'no such file or directory' : err.code === 'EACCES' ? 'permission denied' : err.message;
      reject(new TsrunError(`${prefix}: fork/exec ${hook.path}: ${reason}`));
    });
    child.once('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (timedOut) reject(new TsrunError(`${prefix}: hook ran past specified timeout of ${hook.timeout!.toFixed(1)}s`));
      else if (code === 0) resolve();
      else reject(new TsrunError(`${prefix}: error running hook: ${describeEnd(code, signal)}, stdout: ${stdout}, stderr: ${stderr}`));
    });
  });
}

function envObject(env: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of env) {
    const i = e.indexOf('=');
    if (i > 0) out[e.slice(0, i)] = e.slice(i + 1);
  }
  return out;
}

/** Runs the hooks of one kind in order; the first failure stops them. */
export async function runHooks(hooks: Hooks | undefined, name: HookName, state: HookState): Promise<void> {
  const list = hooks?.[name] ?? [];
  const json = hookStateJson(state);
  for (let i = 0; i < list.length; i++) await runHook(name, i, list[i], json);
}

/** poststart/poststop: a failure is a warning and the remaining hooks still run. */
export async function runHooksWarnOnly(hooks: Hooks | undefined, name: HookName, state: HookState): Promise<void> {
  const list = hooks?.[name] ?? [];
  const json = hookStateJson(state);
  for (let i = 0; i < list.length; i++) {
    try { await runHook(name, i, list[i], json); } catch (err) { log.warn((err as Error).message); }
  }
}
