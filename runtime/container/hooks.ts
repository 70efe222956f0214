import { childProcess } from '../lazy-modules.js';
import { TsrunError } from '../errors.js';
import type { Spec } from '../spec/types.js';
import { log } from '../log.js';

export type HookName = 'prestart' | 'createRuntime' | 'createContainer' | 'startContainer' | 'poststart' | 'poststop';
type Hook = { path: string; args?: string[]; env?: string[]; timeout?: number };

/** Hooks that run inside the container's namespaces need the executor's help, which it does not give yet. */
export function checkHooksSupported(hooks: Spec['hooks']): void {
  for (const name of ['createContainer', 'startContainer'] as const) {
    if ((hooks as Record<string, Hook[] | undefined> | undefined)?.[name]?.length) {
      throw new TsrunError(`${name} hooks are not supported yet`);
    }
  }
}

export function hasHooks(hooks: Spec['hooks'], ...names: HookName[]): boolean {
  return names.some((n) => ((hooks as Record<string, Hook[] | undefined> | undefined)?.[n]?.length ?? 0) > 0);
}

function runHook(name: HookName, index: number, hook: Hook, stateJson: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const args = hook.args?.length ? hook.args : [hook.path];
    const child = childProcess().spawn(hook.path, args.slice(1), { argv0: args[0], env: envObject(hook.env), stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => { output += d; });
    child.stderr.on('data', (d) => { output += d; });
    child.stdin.on('error', () => undefined);
    child.stdin.end(stateJson);
    let timer: NodeJS.Timeout | undefined;
    if (hook.timeout && hook.timeout > 0) {
      timer = setTimeout(() => { child.kill('SIGKILL'); }, hook.timeout * 1000);
    }
    child.once('error', (err) => { if (timer) clearTimeout(timer); reject(new TsrunError(`error running ${name} hook #${index}: ${err.message}`)); });
    child.once('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (code === 0) resolve();
      else if (signal === 'SIGKILL' && hook.timeout) reject(new TsrunError(`error running ${name} hook #${index}: timeout after ${hook.timeout}s`));
      else reject(new TsrunError(`error running ${name} hook #${index}: exit status ${code ?? signal}, stdout: ${output.trim()}`));
    });
  });
}

function envObject(env: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of env ?? []) {
    const i = e.indexOf('=');
    if (i > 0) out[e.slice(0, i)] = e.slice(i + 1);
  }
  return out;
}

/** Runs the hooks of one kind in order; the first failure stops them. */
export async function runHooks(hooks: Spec['hooks'], name: HookName, state: Record<string, unknown>): Promise<void> {
  const list = (hooks as Record<string, Hook[] | undefined> | undefined)?.[name] ?? [];
  const json = JSON.stringify(state);
  for (let i = 0; i < list.length; i++) await runHook(name, i, list[i], json);
}

/** poststart/poststop: a failure is a warning and the remaining hooks still run. */
export async function runHooksWarnOnly(hooks: Spec['hooks'], name: HookName, state: Record<string, unknown>): Promise<void> {
  const list = (hooks as Record<string, Hook[] | undefined> | undefined)?.[name] ?? [];
  const json = JSON.stringify(state);
  for (let i = 0; i < list.length; i++) {
    try { await runHook(name, i, list[i], json); } catch (err) { log.warn((err as Error).message); }
  }
}
