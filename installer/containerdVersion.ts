// The version of the host's containerd, from `containerd --version`. Distributions decorate it:
//   containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3      (Debian)
//   containerd containerd.io 1.7.27 05044ec0a9a75232cad458027ca83437aae3f4da        (Docker's packages)
//   containerd github.com/containerd/containerd/v2 v2.1.0 061792f0ecf3684fb30a...  (upstream 2.x)
//   containerd github.com/k3s-io/containerd v1.7.23-k3s2                           (k3s, RKE2)

export interface ContainerdVersion {
  major: number;
  minor: number;
  patch: number;
  /** The version word as printed, e.g. "1.6.20~ds1" or "v2.1.0". */
  raw: string;
}

export class ContainerdVersionError extends Error {
  constructor(readonly output: string) {
    super(`cannot read a containerd version from ${JSON.stringify(output.slice(0, 200))}`);
    this.name = 'ContainerdVersionError';
  }
}

export function parseContainerdVersion(output: string): ContainerdVersion {
  const words = output.trim().split(/\s+/);
  // The first word after the package path that looks like [v]X.Y.Z; the package path itself may
  // contain "/v2", which is not a version.
  for (const w of words.slice(1)) {
    const m = /^v?(\d+)\.(\d+)\.(\d+)(?:[-~+.][0-9A-Za-z.~+-]*)?$/.exec(w);
    if (m) return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]), raw: w };
  }
  throw new ContainerdVersionError(output);
}

export function formatVersion(v: Pick<ContainerdVersion, 'major' | 'minor' | 'patch'>): string {
  return `${v.major}.${v.minor}.${v.patch}`;
}

export function atLeast(v: Pick<ContainerdVersion, 'major' | 'minor' | 'patch'>, major: number, minor = 0, patch = 0): boolean {
  if (v.major !== major) return v.major > major;
  if (v.minor !== minor) return v.minor > minor;
  return v.patch >= patch;
}
