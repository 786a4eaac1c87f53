import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DENIED_SYSCALLS, INTERCEPTED_SYSCALLS } from './interceptedSyscalls.js';
import { layerVNodeProfile, SeccompProfileError, type OciSeccomp, type OciSyscallRule } from './seccompProfile.js';

const opts = { listenerPath: '/run/vnode/seccomp.sock', listenerMetadata: 'vn-x/c1' };

/** The single action each syscall gets (fails if a syscall has two unconditional rules). */
function actions(p: OciSeccomp): Map<string, OciSyscallRule> {
  const m = new Map<string, OciSyscallRule>();
  for (const r of p.syscalls ?? []) {
    if (r.args?.length) continue;
    for (const n of r.names) {
      assert.ok(!m.has(n), `${n} has two unconditional rules: libseccomp would keep the first one silently`);
      m.set(n, r);
    }
  }
  return m;
}

test('privileged container (no profile): allow by default, notify exactly the handled syscalls, deny the rest', () => {
  const p = layerVNodeProfile(undefined, opts);
  assert.equal(p.defaultAction, 'SCMP_ACT_ALLOW');
  assert.equal(p.listenerPath, opts.listenerPath);
  assert.equal(p.listenerMetadata, opts.listenerMetadata);
  assert.deepEqual(p.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
  const a = actions(p);
  const notified = [...a].filter(([, r]) => r.action === 'SCMP_ACT_NOTIFY').map(([n]) => n);
  assert.deepEqual(notified.sort(), [...INTERCEPTED_SYSCALLS].sort());
  for (const d of DENIED_SYSCALLS) {
    assert.equal(a.get(d.name)?.action, 'SCMP_ACT_ERRNO', d.name);
    assert.equal(a.get(d.name)?.errnoRet, d.errno, d.name);
  }
  for (const n of ['fsopen', 'open_tree', 'move_mount', 'mount_setattr']) assert.equal(a.get(n)?.action, 'SCMP_ACT_NOTIFY', `${n}: the fd mount API is answered by the manager`);
  for (const n of ['fsconfig', 'fsmount', 'fspick']) assert.equal(a.get(n), undefined, `${n} runs natively on what fsopen made`);
  assert.equal(a.get('kexec_load')?.errnoRet, 1);
});

test("an allowlist profile keeps its meaning: what it allows is notified, what it does not stays denied", () => {
  const own: OciSeccomp = {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: 1,
    architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
    syscalls: [
      { names: ['read', 'write', 'sysinfo', 'sched_getaffinity', 'mknodat', 'finit_module'], action: 'SCMP_ACT_ALLOW' },
      { names: ['reboot'], action: 'SCMP_ACT_KILL_PROCESS' },
      { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0, op: 'SCMP_CMP_EQ' }] },
    ],
  };
  const p = layerVNodeProfile(own, opts);
  const a = actions(p);
  for (const n of ['sysinfo', 'sched_getaffinity', 'mknodat']) assert.equal(a.get(n)?.action, 'SCMP_ACT_NOTIFY', n);
  // mount was not allowed by the container's profile: it stays with the default (denied).
  assert.equal(a.get('mount'), undefined);
  assert.equal(a.get('umount2'), undefined);
  // A stricter container rule wins over ours.
  assert.equal(a.get('reboot')?.action, 'SCMP_ACT_KILL_PROCESS');
  // Something the container allowed but no vNode may do is denied.
  assert.equal(a.get('finit_module')?.action, 'SCMP_ACT_ERRNO');
  // Its other rules are untouched, conditions included.
  assert.equal(a.get('read')?.action, 'SCMP_ACT_ALLOW');
  assert.deepEqual(
    p.syscalls!.find((r) => r.names.includes('personality')),
    { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0, op: 'SCMP_CMP_EQ' }] },
  );
  assert.equal(p.defaultAction, 'SCMP_ACT_ERRNO');
  assert.equal(p.defaultErrnoRet, 1);
  assert.deepEqual(p.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
});

test('a denylist profile: explicit ALLOW and default ALLOW both become NOTIFY; its own ERRNO for mount stays', () => {
  const own: OciSeccomp = {
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: ['SCMP_ARCH_AARCH64'],
    syscalls: [
      { names: ['mount', 'umount2', 'ptrace'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 },
      { names: ['sysinfo'], action: 'SCMP_ACT_LOG' },
    ],
  };
  const a = actions(layerVNodeProfile(own, opts));
  assert.equal(a.get('mount')?.action, 'SCMP_ACT_ERRNO');
  assert.equal(a.get('mount')?.errnoRet, 13);
  assert.equal(a.get('umount2')?.errnoRet, 13);
  assert.equal(a.get('ptrace')?.errnoRet, 13);
  assert.equal(a.get('sysinfo')?.action, 'SCMP_ACT_NOTIFY');
  assert.equal(a.get('reboot')?.action, 'SCMP_ACT_NOTIFY');
  assert.deepEqual(layerVNodeProfile(own, opts).architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
});

test('conditional container rules keep their conditions; allowed cases are notified', () => {
  const own: OciSeccomp = {
    defaultAction: 'SCMP_ACT_ERRNO',
    syscalls: [{ names: ['mount'], action: 'SCMP_ACT_ALLOW', args: [{ index: 3, value: 4096, op: 'SCMP_CMP_MASKED_EQ', valueTwo: 4096 }] }],
  };
  const p = layerVNodeProfile(own, opts);
  const rules = p.syscalls!.filter((r) => r.names.includes('mount'));
  assert.deepEqual(rules, [{ names: ['mount'], action: 'SCMP_ACT_NOTIFY', args: own.syscalls![0]!.args }]);
});

test('profiles that cannot be layered are refused with a reason', () => {
  assert.throws(() => layerVNodeProfile({ defaultAction: 'SCMP_ACT_ALLOW', listenerPath: '/x.sock' }, opts), SeccompProfileError);
  assert.throws(() => layerVNodeProfile({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['x'], action: 'SCMP_ACT_NOTIFY' }] }, opts), /one per container/);
  assert.throws(() => layerVNodeProfile({ defaultAction: 'SCMP_ACT_BOGUS' } as unknown as OciSeccomp, opts), /defaultAction/);
  assert.throws(() => layerVNodeProfile(undefined, { ...opts, listenerPath: 'rel.sock' }), /absolute/);
});

test('SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV is dropped (a new manager could not get stuck calls issued again); other flags stay', () => {
  const p = layerVNodeProfile({ defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV'] }, opts);
  assert.deepEqual(p.flags, ['SECCOMP_FILTER_FLAG_LOG']);
  assert.equal(layerVNodeProfile(undefined, opts).flags, undefined);
});

test('the native answers cover only intercepted calls, each under its own name and ABI', async () => {
  const { FAST_ROUTES } = await import('./NotifyLoop.js');
  const { syscallOf } = await import('./syscallTable.js');
  const { handlers } = await import('./handlers/registry.js');
  const intercepted = new Set<string>(INTERCEPTED_SYSCALLS);
  const seen = new Set<string>();
  for (const r of FAST_ROUTES) {
    const sc = syscallOf(r.arch, r.nr);
    assert.equal(sc?.name, r.name, `route ${r.arch}/${r.nr}`);
    assert.ok(intercepted.has(r.name) && handlers.has(r.name), `${r.name} is trapped and has a JS handler to fall back to`);
    // The addon lays out sysinfo and the affinity mask with 8-byte longs only.
    if (r.name === 'sysinfo' || r.name === 'sched_getaffinity') assert.equal(sc?.abi, 'x86_64');
    seen.add(`${r.name}/${sc?.abi}`);
  }
  assert.deepEqual([...seen].sort(), ['mknod/i386', 'mknod/x32', 'mknod/x86_64', 'mknodat/i386', 'mknodat/x32', 'mknodat/x86_64', 'sched_getaffinity/x86_64', 'sysinfo/x86_64']);
});
