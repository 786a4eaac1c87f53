// A handler's way to answer the trapped call with an errno (EFAULT for a bad pointer, EPERM for
// a refusal, ...): thrown anywhere below the handler, turned into the answer by the loop.
import { constants } from 'node:os';

const errnos = constants.errno as Record<string, number>;

export class SyscallFault extends Error {
  constructor(
    readonly errno: number,
    message: string,
  ) {
    super(message);
    this.name = 'SyscallFault';
  }

  static of(code: keyof typeof constants.errno, message: string): SyscallFault {
    const n = errnos[code];
    if (n === undefined) throw new RangeError(`unknown errno ${code}`);
    return new SyscallFault(n, message);
  }
}

export const Errno = {
  EPERM: errnos.EPERM!,
  ENOENT: errnos.ENOENT!,
  ESRCH: errnos.ESRCH!,
  EIO: errnos.EIO!,
  EBADF: errnos.EBADF!,
  EFAULT: errnos.EFAULT!,
  EBUSY: errnos.EBUSY!,
  EINVAL: errnos.EINVAL!,
  ENAMETOOLONG: errnos.ENAMETOOLONG!,
  ENOSYS: errnos.ENOSYS!,
  E2BIG: errnos.E2BIG!,
} as const;
