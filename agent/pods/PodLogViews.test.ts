import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Logger } from '../common/log.js';
import { PodLogViews } from './PodLogViews.js';

const log = { debug() {}, info() {}, warn() {}, error() {} } as unknown as Logger;
const bind = (source: string, destination: string, options = ['rbind', 'rprivate', 'rw']) => ({ type: 'bind', source, destination, options });

test('a hostPath of the pod log root, of kubelet\'s container links, or of a parent gets the vNode\'s views; nothing else', () => {
  const views = new PodLogViews('/var/log/pods', '/run/vnode/logviews', log, '/var/log/containers');
  const ro = ['rbind', 'ro', 'nosuid', 'nodev', 'noexec', 'rslave'];
  const out = views.rewriteMounts([bind('/var/log/pods', '/logs'), bind('/var/log/containers', '/links'), bind('/var/log', '/host/log'), bind('/etc', '/etc-host'), bind('/var/log/pods/x', '/one')], 'vn-a');
  assert.deepEqual(out.map((m) => [m.destination, m.source]), [
    ['/logs', '/run/vnode/logviews/vn-a'],
    ['/links', '/run/vnode/logviews/vn-a.containers'],
    ['/host/log', '/var/log'],
    ['/host/log/pods', '/run/vnode/logviews/vn-a'],
    ['/host/log/containers', '/run/vnode/logviews/vn-a.containers'],
    ['/etc-host', '/etc'],
    ['/one', '/var/log/pods/x'],
  ], 'a dir below the root is a pod dir (runc binds it; the user namespace keeps it unreadable)');
  for (const m of out.filter((x) => x.source!.startsWith('/run/vnode/logviews'))) assert.deepEqual([...m.options!].sort(), [...ro].sort(), 'read-only, the tmpfs\'s locked flags, rslave');
  assert.equal(views.wants([bind('/var/log/containers', '/c')]), true);
  assert.equal(views.wants([bind('/var/lib', '/c')]), false);
  // Without a container log dir configured, its hostPath is an ordinary bind.
  const podsOnly = new PodLogViews('/var/log/pods', '/run/vnode/logviews', log);
  assert.deepEqual(podsOnly.rewriteMounts([bind('/var/log/containers', '/links')], 'vn-a').map((m) => m.source), ['/var/log/containers']);
});
