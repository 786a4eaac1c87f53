// `node installerEntry.js ...`: the container's command (see the Dockerfile and the chart).
import { installerMain } from './installerMain.js';

installerMain(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`vnode-installer: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
