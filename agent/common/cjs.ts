// CommonJS packages (winston, yaml, prom-client, protobufjs, safe-stable-stringify) are loaded with
// require, not import. An ES import of CommonJS code has Node start its CommonJS export lexer, a
// WebAssembly module, in the importing thread: ~7 MiB of resident memory per thread for the life
// of the thread (measured on Node 20: each of the manager's worker threads and its main thread),
// and its start-up in every short-lived entry. require does not use the lexer. Types still come
// from the packages' declarations (`typeof import('pkg')`).
import { createRequire } from 'node:module';

export const requireCjs = createRequire(import.meta.url);
