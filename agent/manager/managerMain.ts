// vnode-manager: the long-running coordinator. Serves the launcher socket; later parts add the
// TTRPC Task service, the vNode registry, seccomp and FUSE.
import { join } from 'node:path';
import { loadConfig } from '../common/config.js';
import { configureLogging, logger } from '../common/log.js';
import { cniLaunch } from '../cni/cniLaunch.js';
import { HEALTH_ENTRY, healthLaunch } from './healthLaunch.js';
import { LaunchServer } from '../launch/LaunchServer.js';
import { shimLaunch } from '../shim/shimLaunch.js';

export async function managerMain(_argv: string[]): Promise<number> {
  const cfg = loadConfig();
  configureLogging({ level: cfg.logLevel });
  const log = logger('manager');
  const launch = new LaunchServer(join(cfg.runDir, 'launch.sock'), logger('launch'));
  launch.handle('containerd-shim-vnode-v2', shimLaunch(undefined));
  launch.handle('vnode-cni', cniLaunch);
  launch.handle(HEALTH_ENTRY, healthLaunch());
  await launch.listen();
  log.info('vnode-manager ready', { runDir: cfg.runDir, stateDir: cfg.stateDir, pid: process.pid });
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  log.info('vnode-manager stopping');
  await launch.close();
  return 0;
}
