// The CNI spec versions vnode-cni speaks: the one list that vnode-cni checks a config against,
// answers VERSION with, and that the installer's chain and the manager's CniRunner accept. A chain
// in another version would fail every pod at vnode-cni; it is refused where it is read instead.
import { z } from 'zod';

export const CNI_VERSIONS: readonly string[] = ['0.3.0', '0.3.1', '0.4.0', '1.0.0'];

/** The version vnode-cni answers in when the config names none it speaks. */
export const CNI_VERSION = '1.0.0';

export const isCniVersion = (v: unknown): v is string => typeof v === 'string' && CNI_VERSIONS.includes(v);

export const unsupportedCniVersion = (v: unknown): string => `${JSON.stringify(v)} is not a CNI version vnode-cni speaks (${CNI_VERSIONS.join(', ')})`;

/** A config's cniVersion, refused with the list when it is not one of ours. */
export const CniVersionSchema = z.string().refine(isCniVersion, (v) => ({ message: unsupportedCniVersion(v) }));

/** The version to answer a stdin config in: its own when we speak it, else ours. */
export function answerVersion(stdin: Buffer): string {
  try {
    const v = (JSON.parse(stdin.toString('utf8') || '{}') as { cniVersion?: unknown } | null)?.cniVersion;
    if (isCniVersion(v)) return v;
  } catch {
    // not JSON (or no config, as for VERSION): answered in our own version
  }
  return CNI_VERSION;
}
