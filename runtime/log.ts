import { appendFileSync } from 'node:fs';
import { currentContext, type Logger } from './context.js';

/** runc's logging: logrus text or JSON lines in --log, or text on stderr. */
export type LogFormat = 'text' | 'json';
export type LogLevel = 'error' | 'warning' | 'info' | 'debug';

export interface LogConfig { file?: string; format: LogFormat; debug: boolean }

export type { Logger } from './context.js';

function timestamp(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

/** runc's own log: lines in --log (text or JSON), or on stderr. */
export class RuncLogger implements Logger {
  constructor(private readonly config: LogConfig = { format: 'text', debug: false }) {}

  get debugEnabled(): boolean { return this.config.debug; }
  debug(msg: string): void { if (this.config.debug) this.write('debug', msg); }
  info(msg: string): void { this.write('info', msg); }
  warn(msg: string): void { this.write('warning', msg); }
  error(msg: string): void { this.write('error', msg); }
  /** A line in the log, and the bare message on stderr when the log is a file (as runc). */
  fatal(msg: string): void {
    this.write('error', msg);
    if (this.config.file) process.stderr.write(msg + '\n');
  }

  private line(level: LogLevel, msg: string): string {
    if (this.config.format === 'json') return JSON.stringify({ level, msg, time: timestamp() }) + '\n';
    return `time="${timestamp()}" level=${level} msg=${JSON.stringify(msg)}\n`;
  }

  private write(level: LogLevel, msg: string): void {
    const text = this.line(level, msg);
    if (this.config.file) {
      try { appendFileSync(this.config.file, text); return; } catch { /* fall back to stderr */ }
    }
    process.stderr.write(text);
  }
}

/** A logger that hands every message to a function (a long-running caller's own log). */
export function functionLogger(write: (level: LogLevel, msg: string) => void, debug = false): Logger {
  return {
    debugEnabled: debug,
    debug(msg) { if (debug) write('debug', msg); },
    info(msg) { write('info', msg); },
    warn(msg) { write('warning', msg); },
    error(msg) { write('error', msg); },
    fatal(msg) { write('error', msg); },
  };
}

const DEFAULT_LOGGER: Logger = new RuncLogger();

function current(): Logger {
  return currentContext()?.logger ?? DEFAULT_LOGGER;
}

/** The log of the Runtime whose operation is running (runtime/context.ts). */
export const log: Logger = {
  get debugEnabled() { return current().debugEnabled; },
  debug(msg) { current().debug(msg); },
  info(msg) { current().info(msg); },
  warn(msg) { current().warn(msg); },
  error(msg) { current().error(msg); },
  fatal(msg) { current().fatal(msg); },
};
