// The seccomp profile of a vNode container: the container's own profile (none for privileged
// containers) with SCMP_ACT_NOTIFY rules for the syscalls the manager answers and ERRNO rules
// for the ones no vNode may make, addressed to the manager's listener socket.
//
// How runc (1.1.5, libseccomp 2.5.4) resolves two rules for one syscall, measured
// (seccompProfile.e2e.test.ts): an unconditional rule beats every conditional one, and between
// rules with the same conditions the FIRST added wins, whatever the actions. So layering by
// appending rules would silently keep the container's ALLOW. Instead every syscall we touch gets
// exactly one unconditional rule here, decided from what the container's profile did with it.
import { z } from 'zod';
import { DENIED_SYSCALLS, INTERCEPTED_SYSCALLS } from './interceptedSyscalls.js';

const Action = z.enum([
  'SCMP_ACT_KILL',
  'SCMP_ACT_KILL_PROCESS',
  'SCMP_ACT_KILL_THREAD',
  'SCMP_ACT_TRAP',
  'SCMP_ACT_ERRNO',
  'SCMP_ACT_TRACE',
  'SCMP_ACT_ALLOW',
  'SCMP_ACT_LOG',
  'SCMP_ACT_NOTIFY',
]);
export type SeccompAction = z.infer<typeof Action>;

const Arg = z
  .object({
    index: z.number().int().min(0).max(5),
    value: z.number().int().nonnegative(),
    valueTwo: z.number().int().nonnegative().optional(),
    op: z.enum(['SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ']),
  })
  .strict();

export const OciSyscallRuleSchema = z
  .object({
    names: z.array(z.string().min(1)).min(1),
    action: Action,
    errnoRet: z.number().int().nonnegative().optional(),
    args: z.array(Arg).optional(),
  })
  .passthrough();
export type OciSyscallRule = z.infer<typeof OciSyscallRuleSchema>;

export const OciSeccompSchema = z
  .object({
    defaultAction: Action,
    defaultErrnoRet: z.number().int().nonnegative().optional(),
    architectures: z.array(z.string()).optional(),
    flags: z.array(z.string()).optional(),
    listenerPath: z.string().optional(),
    listenerMetadata: z.string().optional(),
    syscalls: z.array(OciSyscallRuleSchema).optional(),
  })
  .passthrough();
export type OciSeccomp = z.infer<typeof OciSeccompSchema>;

/** The ABIs a vNode container may use; runc expects the compat ones beside the native one. */
export const VNODE_ARCHITECTURES = ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'] as const;

export class SeccompProfileError extends Error {
  constructor(message: string) {
    super(`vNode seccomp profile: ${message}`);
    this.name = 'SeccompProfileError';
  }
}

export interface LayerOptions {
  listenerPath: string;
  listenerMetadata: string;
}

/** The seccomp filter flag the vNode profile never keeps (see layerVNodeProfile). */
export const WAIT_KILLABLE_RECV = 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV';

/** Actions under which the syscall runs: the vNode's rule may take over. */
const permissive = (a: SeccompAction): boolean => a === 'SCMP_ACT_ALLOW' || a === 'SCMP_ACT_LOG';
const conditional = (r: OciSyscallRule): boolean => (r.args?.length ?? 0) > 0;

export function layerVNodeProfile(existing: OciSeccomp | undefined, opts: LayerOptions): OciSeccomp {
  if (!opts.listenerPath.startsWith('/')) throw new SeccompProfileError(`listenerPath ${JSON.stringify(opts.listenerPath)} must be absolute`);
  const parsed = OciSeccompSchema.safeParse(existing ?? { defaultAction: 'SCMP_ACT_ALLOW' });
  if (!parsed.success) {
    const where = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new SeccompProfileError(`the container's own profile is invalid: ${where}`);
  }
  const base = parsed.data;
  const rules = base.syscalls ?? [];
  if (base.listenerPath || base.defaultAction === 'SCMP_ACT_NOTIFY' || rules.some((r) => r.action === 'SCMP_ACT_NOTIFY'))
    throw new SeccompProfileError('the container already uses a seccomp listener; runc supports one per container, and vNode needs it');

  const ours = new Set<string>([...INTERCEPTED_SYSCALLS, ...DENIED_SYSCALLS.map((d) => d.name)]);
  const kept: OciSyscallRule[] = [];
  const touched = new Map<string, OciSyscallRule[]>();
  for (const r of rules) {
    const other = r.names.filter((n) => !ours.has(n));
    if (other.length) kept.push({ ...r, names: other });
    for (const n of r.names.filter((x) => ours.has(x))) touched.set(n, [...(touched.get(n) ?? []), { ...r, names: [n] }]);
  }

  const added: OciSyscallRule[] = [];
  const notify: string[] = [];
  for (const name of INTERCEPTED_SYSCALLS) {
    const own = touched.get(name) ?? [];
    const uncond = own.find((r) => !conditional(r));
    if (uncond) {
      // The container decided unconditionally: allowed -> the manager answers; denied -> stays denied.
      if (permissive(uncond.action)) notify.push(name);
      else added.push(uncond);
    } else if (own.length) {
      // Only conditional rules: each keeps its condition; allowed cases go to the manager, and
      // the rest falls to the default action as before (an unconditional NOTIFY would override them).
      for (const r of own) added.push(permissive(r.action) ? { names: [name], action: 'SCMP_ACT_NOTIFY', args: r.args } : r);
    } else if (permissive(base.defaultAction)) {
      notify.push(name);
    }
  }
  if (notify.length) added.unshift({ names: notify, action: 'SCMP_ACT_NOTIFY' });

  for (const d of DENIED_SYSCALLS) {
    const own = touched.get(d.name) ?? [];
    const uncond = own.find((r) => !conditional(r));
    // A container rule that already refuses (KILL, TRAP, ERRNO) is at least as strict: keep it.
    if (uncond && !permissive(uncond.action)) added.push(uncond);
    else if (!uncond && !own.length && !permissive(base.defaultAction)) continue;
    else added.push({ names: [d.name], action: 'SCMP_ACT_ERRNO', errnoRet: d.errno });
  }

  const arches = [...(base.architectures ?? [])];
  for (const a of VNODE_ARCHITECTURES) if (!arches.includes(a)) arches.push(a);
  // WAIT_KILLABLE_RECV would make a call the manager received uninterruptible by the freezer, so
  // a new manager could not get it issued again after the old one died (reissue.ts): dropped.
  const flags = base.flags?.filter((f) => f !== WAIT_KILLABLE_RECV);
  return {
    ...base,
    ...(flags ? { flags } : {}),
    architectures: arches,
    listenerPath: opts.listenerPath,
    listenerMetadata: opts.listenerMetadata,
    syscalls: [...added, ...kept],
  };
}
