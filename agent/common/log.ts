// One logger per component, JSON lines on stderr (stdout belongs to protocol answers: containerd
// reads a shim's stdout, CNI reads the plugin's). The main thread logs through winston; worker
// threads (vnodefs, seccomp) write the same lines with the serializer winston's json format calls
// (safe-stable-stringify) but without winston, whose module graph costs each thread ~4 MiB of
// heap (BENCH manager-memory: the manager runs four such threads).
import { isMainThread } from 'node:worker_threads';
import type Winston from 'winston';
import { requireCjs } from './cjs.js';

const stringify = requireCjs('safe-stable-stringify') as typeof import('safe-stable-stringify').default;

/** What the code logs with: a message and fields. */
export interface Logger {
  error(message: string, meta?: object): unknown;
  warn(message: string, meta?: object): unknown;
  info(message: string, meta?: object): unknown;
  debug(message: string, meta?: object): unknown;
}

const winston = isMainThread ? (requireCjs('winston') as typeof Winston) : undefined;

const level = (): string => process.env.VNODE_LOG_LEVEL ?? 'info';
/** npm levels, winston's default. */
const LEVELS: Record<string, number> = { error: 0, warn: 1, info: 2, http: 3, verbose: 4, debug: 5, silly: 6 };

// Error lines by component, counted as they are logged (the vnode_errors_total metric); the
// components are this program's fixed set of names, so the map stays small.
const errors = new Map<string, number>();
const countError = (component: unknown): void => {
  const c = typeof component === 'string' ? component : 'unknown';
  errors.set(c, (errors.get(c) ?? 0) + 1);
};

/** Error lines logged so far in this thread, by component. */
export function errorCounts(): ReadonlyMap<string, number> {
  return errors;
}

let base: Winston.Logger | undefined;
function root(): Winston.Logger {
  const w = winston!;
  const countErrors = w.format((info) => {
    if (info.level === 'error') countError(info.component);
    return info;
  });
  base ??= w.createLogger({
    level: level(),
    format: w.format.combine(countErrors(), w.format.timestamp(), w.format.errors({ stack: true }), w.format.json()),
    transports: [new w.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'] })],
  });
  return base;
}

/** logform's json format: safe-stable-stringify (keys sorted, cycles cut) with bigints as text. */
const jsonLine = (v: object): string => stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x)) ?? '';

/** A worker thread's line: what winston's json format makes of the same call (log.test.ts). */
export function threadLine(component: string, lvl: string, message: string, meta: object | undefined, timestamp: string): string {
  return jsonLine({ ...meta, component, level: lvl, message, timestamp });
}

/** A worker thread's logger: the lines winston would write, without winston. */
function threadLogger(component: string): Logger {
  const max = LEVELS[level()] ?? LEVELS.info!;
  const at = (lvl: string) => (message: string, meta?: object): void => {
    if (LEVELS[lvl]! > max) return;
    if (lvl === 'error') countError(component);
    process.stderr.write(`${threadLine(component, lvl, message, meta, new Date().toISOString())}\n`);
  };
  return { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') };
}

/** A logger whose lines carry `component`. */
export function logger(component: string): Logger {
  if (!winston) return threadLogger(component);
  const r = root();
  const child = r.child({ component });
  // A line below the level ends here: winston builds an info object and pipes it through its
  // streams before its own level check (the manager's filtered debug lines were ~3% of its CPU).
  const at =
    (lvl: 'error' | 'warn' | 'info' | 'debug') =>
    (message: string, meta?: object): unknown =>
      !r.isLevelEnabled(lvl) ? undefined : meta === undefined ? child[lvl](message) : child[lvl](message, meta);
  return { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') };
}

/** Replace the sink, e.g. with a file transport for the manager (main thread). */
export function configureLogging(opts: { level?: string; file?: string }): void {
  if (!winston) return;
  const r = root();
  if (opts.level) r.level = opts.level;
  if (opts.file) {
    r.clear();
    r.add(new winston.transports.File({ filename: opts.file }));
  }
}
