// Loads the compiled addon. The TypeScript modules beside this file give it types; nothing else
// should import the raw binding.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);

function locate(): string {
  const candidates = [
    process.env.VNODE_ADDON,
    // staged tree: lib/app/addon/native.js beside vnode_addon.node
    fileURLToPath(new URL('./vnode_addon.node', import.meta.url)),
    // development: dist/addon/native.js -> addon/build/Release
    fileURLToPath(new URL('../../addon/build/Release/vnode_addon.node', import.meta.url)),
  ];
  for (const c of candidates) if (c && existsSync(c)) return c;
  throw new Error(`vnode addon not found (looked in ${candidates.filter(Boolean).join(', ')}); run npm run build`);
}

/** The raw binding; each typed wrapper module narrows what it uses. */
export const native: Record<string, unknown> = require(locate()) as Record<string, unknown>;

/** An error from a syscall made in the addon: carries the errno and its name. */
export interface SyscallError extends Error {
  errno: number;
  code: string;
  syscall: string;
}

export function isSyscallError(e: unknown, code?: string): e is SyscallError {
  return e instanceof Error && typeof (e as Partial<SyscallError>).errno === 'number' && (code === undefined || (e as SyscallError).code === code);
}

export function fn<T extends (...args: never[]) => unknown>(name: string): T {
  const f = native[name];
  if (typeof f !== 'function') throw new Error(`vnode addon lacks ${name}; rebuild it (npm run build)`);
  return f as T;
}
