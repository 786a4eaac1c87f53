// vnode-manager: the long-running coordinator. Serves the launcher socket; later parts add the
// TTRPC Task service, the vNode registry, seccomp and FUSE.
import { join } from 'node:path';
import { loadConfig } from '../common/config.js';
import { configureLogging, logger } from '../common/log.js';
import { LaunchServer } from '../launch/LaunchServer.js';
import { VNodeManager } from '../vnode/VNodeManager.js';

export async function managerMain(_argv: string[]): Promise<number> {
  const cfg = loadConfig();
  configureLogging({ level: cfg.logLevel });
  const log = logger('manager');
  // Reload vNode state first: live holders are re-adopted, dead ones cleaned up.
  const vnodes = await VNodeManager.open(cfg, { log: logger('vnode') });
  const launch = new LaunchServer(join(cfg.runDir, 'launch.sock'), logger('launch'));
  await launch.listen();
  log.info('vnode-manager ready', { runDir: cfg.runDir, stateDir: cfg.stateDir, pid: process.pid, vnodes: vnodes.list().length });
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  log.info('vnode-manager stopping');
  await launch.close();
  await vnodes.close(); // holders stay up for the next manager
  return 0;
}
