// One winston logger per component, JSON lines on stderr (stdout belongs to protocol answers:
// containerd reads a shim's stdout, CNI reads the plugin's).
import winston from 'winston';

export type Logger = winston.Logger;

const level = (): string => process.env.VNODE_LOG_LEVEL ?? 'info';

let base: winston.Logger | undefined;

// Error lines by component, counted as they are logged (the vnode_errors_total metric); the
// components are this program's fixed set of names, so the map stays small.
const errors = new Map<string, number>();
const countErrors = winston.format((info) => {
  if (info.level === 'error') {
    const c = typeof info.component === 'string' ? info.component : 'unknown';
    errors.set(c, (errors.get(c) ?? 0) + 1);
  }
  return info;
});

/** Error lines logged so far in this thread, by component. */
export function errorCounts(): ReadonlyMap<string, number> {
  return errors;
}

function root(): winston.Logger {
  base ??= winston.createLogger({
    level: level(),
    format: winston.format.combine(countErrors(), winston.format.timestamp(), winston.format.errors({ stack: true }), winston.format.json()),
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'] })],
  });
  return base;
}

/** A logger whose lines carry `component`. */
export function logger(component: string): Logger {
  return root().child({ component });
}

/** Replace the sink, e.g. with a file transport for the manager. */
export function configureLogging(opts: { level?: string; file?: string }): void {
  const r = root();
  if (opts.level) r.level = opts.level;
  if (opts.file) {
    r.clear();
    r.add(new winston.transports.File({ filename: opts.file }));
  }
}
