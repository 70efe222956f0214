import { appendFileSync } from 'node:fs';
import { writeStderr } from './stdio.js';

/** runc's logging: logrus text or JSON lines in --log, or text on stderr. */
export type LogFormat = 'text' | 'json';
type Level = 'error' | 'warning' | 'info' | 'debug';

export interface LogConfig { file?: string; format: LogFormat; debug: boolean }

let config: LogConfig = { format: 'text', debug: false };

export function configureLog(c: LogConfig): void { config = c; }
export function debugEnabled(): boolean { return config.debug; }

function timestamp(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

function line(level: Level, msg: string): string {
  if (config.format === 'json') return JSON.stringify({ level, msg, time: timestamp() }) + '\n';
  return `time="${timestamp()}" level=${level} msg=${JSON.stringify(msg)}\n`;
}

function write(level: Level, msg: string): void {
  const text = line(level, msg);
  if (config.file) {
    try { appendFileSync(config.file, text); return; } catch { /* fall back to stderr */ }
  }
  writeStderr(text);
}

export const log = {
  debug(msg: string): void { if (config.debug) write('debug', msg); },
  info(msg: string): void { write('info', msg); },
  warn(msg: string): void { write('warning', msg); },
  /** An error the command survives (runc's logrus.Error). */
  error(msg: string): void { write('error', msg); },
  /** A fatal error: a line in the log, and the bare message on stderr when the log is a file (as runc). */
  fatal(msg: string): void {
    write('error', msg);
    if (config.file) writeStderr(msg + '\n');
  },
};
