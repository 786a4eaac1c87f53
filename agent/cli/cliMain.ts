// The `vnode` command line: status, ls, inspect and health ask the running manager over its launch
// socket; doctor checks the host (and asks the manager whether it is up). --json prints the
// report as one JSON document for scripts.
import { loadConfig } from '../common/config.js';
import { ListReportSchema, InspectReportSchema, StatusReportSchema, type StatusReport } from '../manager/introspectionReports.js';
import { managerVersion } from '../manager/version.js';
import { parseCli, USAGE, type CliOptions } from './cliArgs.js';
import { doctorChecks, gatherDoctorInputs } from './doctor.js';
import { formatDoctor, formatInspect, formatList, formatStatus } from './format.js';
import { checkHealth } from './health.js';
import { askManager, ManagerUnreachable } from './ManagerClient.js';

const out = (s: string): void => void process.stdout.write(s);
const json = (v: unknown): void => out(`${JSON.stringify(v, null, 2)}\n`);

export async function cliMain(argv: string[]): Promise<number> {
  const p = parseCli(argv);
  if (!p.ok) {
    process.stderr.write(`vnode: ${p.error}\n${USAGE}`);
    return 2;
  }
  const o = p.options;
  try {
    switch (p.command) {
      case 'help':
        out(USAGE);
        return 0;
      case 'version':
        out(`vnode ${managerVersion()}\n`);
        return 0;
      case 'health': {
        const r = await checkHealth(o.runDir, o.timeoutMs, o.ready);
        (r.ok ? process.stdout : process.stderr).write(`${r.ok ? '' : 'vnode health: '}${r.message}\n`);
        return r.ok ? 0 : 1;
      }
      case 'status': {
        const r = await askManager(o.runDir, ['status'], StatusReportSchema, o.timeoutMs);
        if (o.json) json(r);
        else out(formatStatus(r));
        return r.subsystems.some((s) => s.status === 'failed') ? 1 : 0;
      }
      case 'ls': {
        const r = await askManager(o.runDir, ['ls'], ListReportSchema, o.timeoutMs);
        if (o.json) json(r);
        else out(formatList(r));
        return 0;
      }
      case 'inspect': {
        const r = await askManager(o.runDir, ['inspect', p.ref!], InspectReportSchema, o.timeoutMs);
        if (o.json) json(r);
        else out(formatInspect(r));
        return 0;
      }
      case 'doctor':
        return await doctor(o);
    }
  } catch (e) {
    process.stderr.write(`vnode ${p.command}: ${(e as Error).message}\n`);
    return 1;
  }
}

async function doctor(o: CliOptions): Promise<number> {
  const cfg = loadConfig();
  let status: StatusReport | undefined;
  let manager: { ok: boolean; message: string };
  try {
    status = await askManager(o.runDir, ['status'], StatusReportSchema, o.timeoutMs);
    const failed = status.subsystems.filter((s) => s.status === 'failed');
    manager = failed.length
      ? { ok: false, message: `vnode-manager ${status.version} (pid ${status.pid}) answers, but ${failed.map((s) => `${s.name}: ${s.detail}`).join('; ')}` }
      : { ok: true, message: `vnode-manager ${status.version} (pid ${status.pid}) up ${Math.round(status.uptimeSeconds)} s, every subsystem ok` };
  } catch (e) {
    manager = { ok: false, message: e instanceof ManagerUnreachable ? e.message : `vnode-manager: ${(e as Error).message}` };
  }
  // The manager's own CNI dirs when it answers; else what its configuration says.
  const cni = status?.cni ?? cfg.cni;
  const checks = doctorChecks(
    await gatherDoctorInputs({ containerdConfig: o.containerdConfig, containerdRoot: o.containerdRoot, containerdBinary: cfg.containerd.binary, cniConfDir: cni.confDir, cniBinDir: cni.binDir, manager }),
  );
  if (o.json) json({ ok: checks.every((c) => c.verdict !== 'fail'), checks });
  else out(formatDoctor(checks));
  return checks.some((c) => c.verdict === 'fail') ? 1 : 0;
}
