// rtnetlink in the addon: move an interface with its addresses and routes between network
// namespaces, and look a link up by name, without a single process. Each call runs on a thread of
// its own that enters the namespaces only to open a netlink socket in each (see netlink.cc).
import { fn, type SyscallError } from './native.js';

export interface MovedInterface {
  /** The interface's index in the target netns. */
  ifindex: number;
  /** Its global addresses as `address/prefixlen`, now set in the target netns. */
  addresses: string[];
  /** How many main-table routes through it were set again in the target netns. */
  routes: number;
  /** Time of the netns change of the link alone; the kernel spends most of it in rcu_barrier(),
   * which no caller can avoid. */
  linkMoveMs: number;
}

/** A failed move: `step` names the request that failed (e.g. `RTM_NEWADDR 10.0.0.2/24 dev eth0
 * in /run/...`), errno/code its error; after a failure past the move itself `rollback` says where
 * the link is now and `leftInTarget` whether it stayed in the target netns. */
export interface MoveInterfaceError extends SyscallError {
  step: string;
  kernelMessage?: string;
  leftInTarget?: boolean;
  rollback?: string;
}

/** Moves `ifname` from the netns file `fromNetns` into `toNetns`: lo and the link up, its global
 * addresses and its main-table routes (not the kernel-made ones) set again, in that order. A
 * failure after the move takes the link back into `fromNetns` as it was, where possible. */
export const moveInterface = fn<(fromNetns: string, ifname: string, toNetns: string) => Promise<MovedInterface>>('moveInterface');

/** The link's index in the netns file, or null if the netns has no such link. */
export const linkIndex = fn<(netns: string, ifname: string) => Promise<number | null>>('linkIndex');
