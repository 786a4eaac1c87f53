// V8 heap limits for the manager's worker threads (vnodefs FUSE workers, seccomp notify workers). A worker's allocations are short-lived (a request's buffers and strings): with V8's
// default young generation (semi-spaces up to 16 MiB, sized for throughput) each thread's RSS grows
// by what it cycles through between scavenges, which multiplied by the manager's threads was most of
// its memory. Small semi-spaces scavenge more often (each well under a millisecond on this work) and
// keep that resident set small (BENCH manager-memory, docs/vnode-core.md). VNODE_WORKER_YOUNG_MB
// sets the young generation's size (0: V8's default), for measuring.
import type { ResourceLimits } from 'node:worker_threads';

const youngMb = Number(process.env.VNODE_WORKER_YOUNG_MB ?? 3);
export const WORKER_RESOURCE_LIMITS: ResourceLimits = Number.isFinite(youngMb) && youngMb > 0 ? { maxYoungGenerationSizeMb: youngMb } : {};
