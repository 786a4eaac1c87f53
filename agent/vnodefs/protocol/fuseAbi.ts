// FUSE kernel ABI facts (include/uapi/linux/fuse.h): opcodes, flags and struct sizes for
// protocol 7.31+ (this server speaks 7.38 and accepts any kernel minor >= 31).

export const FUSE_KERNEL_VERSION = 7;
export const FUSE_KERNEL_MINOR_VERSION = 38;
export const FUSE_MIN_KERNEL_MINOR = 31;
export const FUSE_ROOT_ID = 1;
export const FUSE_MIN_READ_BUFFER = 8192;

export const enum Op {
  LOOKUP = 1,
  FORGET = 2,
  GETATTR = 3,
  SETATTR = 4,
  OPEN = 14,
  READ = 15,
  WRITE = 16,
  STATFS = 17,
  RELEASE = 18,
  FLUSH = 25,
  INIT = 26,
  OPENDIR = 27,
  READDIR = 28,
  RELEASEDIR = 29,
  ACCESS = 34,
  INTERRUPT = 36,
  DESTROY = 38,
  BATCH_FORGET = 42,
  READDIRPLUS = 44,
}

export const opNames: Readonly<Record<number, string>> = {
  1: 'LOOKUP', 2: 'FORGET', 3: 'GETATTR', 4: 'SETATTR', 14: 'OPEN', 15: 'READ', 16: 'WRITE', 17: 'STATFS',
  18: 'RELEASE', 25: 'FLUSH', 26: 'INIT', 27: 'OPENDIR', 28: 'READDIR', 29: 'RELEASEDIR', 34: 'ACCESS',
  36: 'INTERRUPT', 38: 'DESTROY', 42: 'BATCH_FORGET', 44: 'READDIRPLUS',
};

// INIT flags (fuse_init_in/out.flags)
export const FUSE_ASYNC_READ = 1 << 0;
export const FUSE_ATOMIC_O_TRUNC = 1 << 3;
export const FUSE_BIG_WRITES = 1 << 5;
/** cached reads first check the attributes (GETATTR once they time out); a new mtime or size
 * drops the inode's cached pages */
export const FUSE_AUTO_INVAL_DATA = 1 << 12;
export const FUSE_DO_READDIRPLUS = 1 << 13;
export const FUSE_READDIRPLUS_AUTO = 1 << 14;
export const FUSE_PARALLEL_DIROPS = 1 << 18;
export const FUSE_MAX_PAGES = 1 << 22;
/** fuse_init_in.flags2 follows (the kernel sets it since 7.36) */
export const FUSE_INIT_EXT = 1 << 30;
/** fuse_init_in.flags2 bit 7 (FUSE_HAS_RESEND, 1 << 39 of the 64-bit flags, protocol 7.40): the
 * kernel re-queues requests on FUSE_NOTIFY_RESEND. Advertised only; nothing to answer. */
export const FUSE_HAS_RESEND_FLAGS2 = 1 << 7;

// Notifications (fuse_out_header.unique 0, .error the code) and the resend marker.
/** FUSE_NOTIFY_RESEND (kernel 6.9, protocol 7.40): every request some device fd of the connection
 * read but has not answered goes back to the pending queue, marked with FUSE_UNIQUE_RESEND. */
export const FUSE_NOTIFY_RESEND = 7;
/** Set in fuse_in_header.unique of a resent request; the reply carries the unique as received. */
export const FUSE_UNIQUE_RESEND = 1n << 63n;

// fuse_read_in.read_flags: set on reads the kernel makes for a process's read(2) of a
// FOPEN_DIRECT_IO file (the lock owner is its file table), never on page-cache fills.
export const FUSE_READ_LOCKOWNER = 1 << 1;

// fuse_open_out.open_flags
export const FOPEN_DIRECT_IO = 1 << 0;
export const FOPEN_KEEP_CACHE = 1 << 1;
export const FOPEN_CACHE_DIR = 1 << 3;
export const FOPEN_NOFLUSH = 1 << 5;

// fuse_setattr_in.valid
export const FATTR_MODE = 1 << 0;
export const FATTR_UID = 1 << 1;
export const FATTR_GID = 1 << 2;
export const FATTR_SIZE = 1 << 3;

// struct sizes
export const IN_HEADER_SIZE = 40;
export const OUT_HEADER_SIZE = 16;
export const ATTR_SIZE = 88;
export const ENTRY_OUT_SIZE = 40 + ATTR_SIZE;
export const ATTR_OUT_SIZE = 16 + ATTR_SIZE;
export const OPEN_OUT_SIZE = 16;
export const WRITE_OUT_SIZE = 8;
export const STATFS_OUT_SIZE = 80;
export const INIT_OUT_SIZE = 64;
export const INIT_IN_MIN_SIZE = 16;
/** major, minor, max_readahead, flags, flags2 */
export const INIT_IN_EXT_SIZE = 20;
export const READ_IN_SIZE = 40;
export const WRITE_IN_SIZE = 40;
export const RELEASE_IN_SIZE = 24;
export const FLUSH_IN_SIZE = 24;
export const GETATTR_IN_SIZE = 16;
export const SETATTR_IN_SIZE = 88;
export const OPEN_IN_SIZE = 8;
export const ACCESS_IN_SIZE = 8;
export const FORGET_IN_SIZE = 8;
export const BATCH_FORGET_IN_SIZE = 8;
export const FORGET_ONE_SIZE = 16;
export const INTERRUPT_IN_SIZE = 8;
export const DIRENT_HEADER_SIZE = 24;

// errno values the server answers with
export const ENOENT = 2;
export const EIO = 5;
export const EBADF = 9;
export const EACCES = 13;
export const EPERM = 1;
export const EINVAL = 22;
export const ENOTDIR = 20;
export const EISDIR = 21;
export const ENOSYS = 38;
export const ENOSPC = 28;
export const EPROTO = 71;
export const ERANGE = 34;
export const ENAMETOOLONG = 36;

export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const DT_DIR = 4;
export const DT_REG = 8;
