// The `vnode` command line.
import { readFileSync } from 'node:fs';

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
      process.stdout.write('usage: vnode version\n');
      return 0;
    default:
      process.stderr.write(`vnode: unknown command ${cmd}\n`);
      return 2;
  }
}
