// Why layerVNodeProfile gives every syscall it touches exactly one unconditional rule: with the
// libseccomp runc links (2.5.4 here), two rules for one syscall are not resolved by strictness.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { installed, skipUnless } from '../../e2e/lib/e2eGate.js';

const noLib = skipUnless(installed('/usr/include/seccomp.h'));

test('libseccomp keeps the first of two unconditional rules, and an unconditional rule overrides conditional ones', { skip: noLib }, () => {
  const dir = mkdtempSync('/tmp/vnode-sec-precedence-');
  try {
    const bin = join(dir, 'precedence');
    execFileSync('cc', ['-o', bin, fileURLToPath(new URL('../../../agent/seccomp/fixtures/precedence.c', import.meta.url)), '-lseccomp']);
    const out = execFileSync(bin).toString();
    const section = (name: string): string => out.split(`== ${name}\n`)[1]!.split('\n== ')[0]!;
    const actionOf = (pfc: string, nr: number): string => {
      const i = pfc.indexOf(`if ($syscall == ${nr})`);
      return pfc.slice(i).split('\n').slice(1).find((l) => l.includes('action'))!.trim();
    };
    const NOTIFY = 'action 0x7fc00000;';
    assert.equal(actionOf(section('log-then-notify'), 110), 'action LOG;', 'the first rule wins, not the most restrictive');
    assert.equal(actionOf(section('notify-then-log'), 110), NOTIFY);
    // getpgrp: the conditional ERRNO disappears behind the unconditional NOTIFY.
    assert.equal(actionOf(section('log-then-notify'), 111), NOTIFY);
    assert.doesNotMatch(section('log-then-notify').split('getpgrp')[1]!.split('getppid')[0]!, /ERRNO/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
