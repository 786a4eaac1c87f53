// Moves a pod's interface, with its addresses and routes, from containerd's network namespace
// into the pod's namespace owned by its vNode. Moving a link drops its addresses and routes, so
// they are read first (as the host's CNI plugins left them, whatever plugin that was) and set
// again. All of it is rtnetlink from the addon, off the event loop, with no process started.
// IPv6 addresses are set without duplicate address detection (they passed it on this very link),
// and a failure after the move takes the link back into containerd's netns, whose teardown then
// removes it, instead of leaving it in the vNode's.
import { isSyscallError, type SyscallError } from '../../addon/native.js';
import { linkIndex, moveInterface as moveLink, type MovedInterface, type MoveInterfaceError } from '../../addon/netlink.js';

export class NetnsMoveError extends Error {
  override name = 'NetnsMoveError';
  /** The errno name of the failed request (e.g. ENODEV), when there was one. */
  readonly code?: string;
  readonly errno?: number;
  /** After a failure past the move: true if the link stayed in the target netns. */
  readonly leftInTarget: boolean;
  constructor(message: string, opts: { cause?: unknown; code?: string; errno?: number; leftInTarget?: boolean } = {}) {
    super(message, { cause: opts.cause });
    this.code = opts.code;
    this.errno = opts.errno;
    this.leftInTarget = opts.leftInTarget ?? false;
  }
}

const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

/** Moves IF with its addresses and routes into toNetns; returns the addresses (and, for the
 * logs, the link's index, how many routes were set and how long the kernel took to move it). */
export async function moveInterface(fromNetns: string, ifname: string, toNetns: string): Promise<MovedInterface> {
  if (!IFNAME.test(ifname)) throw new NetnsMoveError(`bad interface name ${JSON.stringify(ifname)}`);
  try {
    return await moveLink(fromNetns, ifname, toNetns);
  } catch (e) {
    if (!isSyscallError(e)) throw e;
    const m = e as MoveInterfaceError;
    throw new NetnsMoveError(m.message, { cause: e, code: m.code, errno: m.errno, leftInTarget: m.leftInTarget });
  }
}

/** Whether IF exists in the namespace (CNI CHECK); false also when the netns file is gone. */
export async function interfaceIn(netns: string, ifname: string): Promise<boolean> {
  if (!IFNAME.test(ifname)) return false;
  try {
    return (await linkIndex(netns, ifname)) !== null;
  } catch (e) {
    if (isSyscallError(e, 'ENOENT')) return false;
    throw new NetnsMoveError(`looking up ${ifname} in ${netns}: ${(e as Error).message}`, { cause: e, code: (e as SyscallError).code, errno: (e as SyscallError).errno });
  }
}
