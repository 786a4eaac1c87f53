// The tree's runc waits for the manager's word on a container's rootfs (runc/vnode-rootfs.patch):
// vnode-runc answers a create before the idmapped rootfs is made and makes it while runc starts
// (agent/pods/runcHook.ts). The wait must end before runc starts its init, whose working
// directory is the rootfs: the rootfs mount is replaced during the wait as the manager replaces
// containerd's overlay (an unmount, not a lazy one) and a mount made under it then is in the
// container. A reason instead of "ok", or a connection closed with no word (a manager gone),
// fails the create with it.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { e2eSkipReason } from '../../e2e/lib/e2eGate.js';
import { run, SeccompTestBed } from '../seccomp/testing/SeccompTestBed.js';

const skip = e2eSkipReason(['/usr/sbin/runc', '/bin/busybox', '/dev/fuse']);
let bed: SeccompTestBed | undefined;
const mounted: string[] = [];

before(async () => {
  if (!skip) bed = await SeccompTestBed.start();
});
after(async () => {
  for (const m of mounted.reverse()) await run('umount', ['-l', m]);
  await bed?.teardown();
});

test('runc create waits for the word: the rootfs mount is replaced meanwhile, and what is mounted under it then is in the container', { skip }, async () => {
  const t0 = performance.now();
  let waited = 0;
  const c = await bed!.container('wait-ok', {
    vnode: 'rootfs-wait',
    // The bundle's rootfs is a mount, as the runc shim's overlay is.
    beforeCreate: (rootfs) => {
      execFileSync('mount', ['--bind', rootfs, rootfs]);
      mounted.push(rootfs);
    },
    rootfsWait: async (rootfs) => {
      await new Promise((r) => setTimeout(r, 400));
      // What the manager does in the wait: that mount is replaced. Busy (EBUSY) if runc had
      // started its init, whose working directory it is.
      execFileSync('umount', [rootfs]);
      mounted.pop();
      execFileSync('mount', ['--bind', rootfs, rootfs]);
      mounted.push(rootfs);
      const tmp = join(rootfs, 'tmp');
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'mode=1777', 'vnode-rootfs-wait', tmp]);
      mounted.push(tmp);
      writeFileSync(join(tmp, 'made-in-the-wait'), 'yes\n');
      waited = performance.now() - t0;
      return 'ok';
    },
  });
  assert.ok(waited >= 400, 'the word came after the delay');
  const r = await c.exec(['cat', '/tmp/made-in-the-wait']);
  assert.equal(r.stdout, 'yes\n', `the container's mount table was copied after the word: ${r.stderr}`);
});

test('a reason instead of "ok" fails the create with it; a connection closed with none says the manager went away', { skip }, async () => {
  await assert.rejects(
    bed!.container('wait-refused', { vnode: 'rootfs-wait', rootfsWait: async () => 'container x not created: overlay rootfs with relative layer paths' }),
    (e: Error) => /runc create .* failed \(1\): .*vnode: container x not created: overlay rootfs with relative layer paths/s.test(e.message),
  );
  await assert.rejects(
    bed!.container('wait-gone', { vnode: 'rootfs-wait', rootfsWait: async () => null }),
    (e: Error) => /vnode: the vNode manager went away before the container's rootfs was made/.test(e.message),
  );
});
