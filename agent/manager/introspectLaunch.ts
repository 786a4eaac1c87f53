// The `vnode-introspect` launch entry: `vnode status`, `ls` and `inspect` ask the running manager
// through its launch socket. Read-only: argv[1] names the question, the answer is one JSON line.
import type { LaunchHandler } from '../launch/LaunchServer.js';
import { Introspection, IntrospectionError } from './Introspection.js';

export function introspectLaunch(intro: Introspection): LaunchHandler {
  return async (req) => {
    const [, what, ref] = req.argv;
    try {
      let out: unknown;
      if (what === 'status') out = await intro.status();
      else if (what === 'ls') out = intro.list();
      else if (what === 'inspect' && ref) out = await intro.inspect(ref);
      else if (what === 'health') out = await intro.health();
      else return { kind: 'exit', code: 2, stderr: `vnode-introspect: unknown question ${JSON.stringify(req.argv.slice(1))} (status, ls, inspect REF, health)\n` };
      return { kind: 'exit', code: 0, stdout: `${JSON.stringify(out)}\n` };
    } catch (e) {
      if (e instanceof IntrospectionError) return { kind: 'exit', code: 1, stderr: `${e.message}\n` };
      throw e;
    }
  };
}
