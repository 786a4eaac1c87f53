// The `vnode` command line.
import { readFileSync } from 'node:fs';
import { checkHealth } from './health.js';

function version(): string {
  try {
    return readFileSync(new URL('../../package.json', import.meta.url), 'utf8').match(/"version":\s*"([^"]+)"/)?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export async function cliMain(argv: string[]): Promise<number> {
  const cmd = argv[0] ?? 'help';
  switch (cmd) {
    case 'version':
    case '--version':
      process.stdout.write(`vnode ${version()}\n`);
      return 0;
    case 'help':
    case '--help':
      process.stdout.write('usage: vnode version\n       vnode health [--run-dir DIR] [--timeout-ms N]   (exit 0 when vnode-manager answers)\n');
      return 0;
    case 'health':
      return health(argv.slice(1));
    default:
      process.stderr.write(`vnode: unknown command ${cmd}\n`);
      return 2;
  }
}

async function health(args: string[]): Promise<number> {
  let runDir = process.env.VNODE_RUN_DIR || '/run/vnode';
  let timeoutMs = 3000;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const v = args[i + 1];
    if (a === '--run-dir' && v) runDir = v;
    else if (a === '--timeout-ms' && v && /^\d+$/.test(v)) timeoutMs = Number(v);
    else {
      process.stderr.write(`vnode health: bad argument ${JSON.stringify(a)}\n`);
      return 2;
    }
    i++;
  }
  const r = await checkHealth(runDir, timeoutMs);
  (r.ok ? process.stdout : process.stderr).write(`${r.ok ? '' : 'vnode health: '}${r.message}\n`);
  return r.ok ? 0 : 1;
}
