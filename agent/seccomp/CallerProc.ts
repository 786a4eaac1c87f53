// Facts about a trapped caller from /proc/<tid>: its capabilities, umask and own tid (status),
// and its mount namespace (the key that serialises mount actions).
import { statSync } from 'node:fs';
import { readText } from '../cgroup/readText.js';
import { CallerGone, type CallerStatus } from './handlers/types.js';

export function parseStatus(text: string): CallerStatus {
  const field = (k: string): string | undefined => {
    const i = text.indexOf(`\n${k}:`);
    if (i < 0) return undefined;
    const end = text.indexOf('\n', i + 1);
    return text.slice(i + k.length + 2, end < 0 ? undefined : end).trim();
  };
  const ns = (field('NSpid') ?? '').split(/\s+/).filter(Boolean);
  const tg = (field('NStgid') ?? '').split(/\s+/).filter(Boolean);
  return {
    nsTgid: Number(tg[tg.length - 1] ?? 0),
    capEff: BigInt(`0x${field('CapEff') ?? '0'}`),
    umask: parseInt(field('Umask') ?? '022', 8),
    nsTid: Number(ns[ns.length - 1] ?? 0),
  };
}

export function callerStatus(tid: number): CallerStatus {
  const text = readText(`/proc/${tid}/status`);
  if (text === undefined) throw new CallerGone(`/proc/${tid}/status`);
  return parseStatus(text);
}

export function mountNamespaceOf(tid: number): string {
  try {
    return `mnt:${statSync(`/proc/${tid}/ns/mnt`).ino}`;
  } catch {
    throw new CallerGone(`/proc/${tid}/ns/mnt`);
  }
}
