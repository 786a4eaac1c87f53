// A stand-in for the vnode-manager's seccomp side, in its own process so a test can SIGKILL it:
// ensures the fd keeper, starts a SeccompAgent with it, adopts what the keeper holds, and prints
// one JSON line {"ready": true, adopt: AdoptResult}. Targets come from a JSON file the test
// writes (container id -> { vnodeId, fsMountpoint? }), read on every listener. SIGTERM: close.
//
//   node agentChild.js SOCKET RUNDIR KEEPER_BINARY TARGETS_FILE
import { readFileSync } from 'node:fs';
import { ensureKeeper } from '../../common/FdKeeper.js';
import { SeccompAgent } from '../SeccompAgent.js';

const [socketPath, runDir, keeperBin, targetsFile] = process.argv.slice(2) as [string, string, string, string];
const keeper = ensureKeeper(runDir, keeperBin);
const agent = await SeccompAgent.start({
  socketPath,
  keeper,
  workers: 1,
  resolve: (st) => {
    const t = (JSON.parse(readFileSync(targetsFile, 'utf8')) as Record<string, { vnodeId: string; fsMountpoint?: string }>)[st.state.id];
    return t && { vnodeId: t.vnodeId, containerId: st.state.id, rootPid: st.state.pid ?? st.pid, ...(t.fsMountpoint ? { fsMountpoint: t.fsMountpoint } : {}) };
  },
});
const adopt = await agent.adopt();
process.stdout.write(`${JSON.stringify({ ready: true, adopt })}\n`);
process.once('SIGTERM', () => {
  void agent.close().then(() => {
    keeper.close();
    process.exit(0);
  });
});
setInterval(() => undefined, 1 << 30);
