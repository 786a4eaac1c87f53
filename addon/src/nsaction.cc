// One mount-family action performed for a trapped caller, inside its namespaces and with its view
// of the filesystem (the seccomp mount/umount2/mknod handlers of agent/seccomp decide which).
//
// nsAction(req) -> Promise<{ errno, value, stage }>, on the thread pool:
//   1. the worker thread opens the target's /proc/<tid>/ns/*, root and cwd, copies a dirfd out of
//      it (pidfd_getfd) and prepares detached clones of host mounts (open_tree) the action needs;
//   2. it checks the notification is still pending (ID_VALID): from then on every fd refers to
//      the process that made the call, whatever happens to the pid;
//   3. a child cloned with CLONE_VM|CLONE_VFORK (no page-table copy; the worker thread waits)
//      closes every descriptor it does not need, joins the caller's user (optional), mnt, net,
//      ipc, uts, cgroup and pid namespaces and becomes root there;
//   4. a grandchild, cloned the same way so it lives in the target's pid namespace, chroots to the
//      target's root, enters its cwd and performs the action on file descriptors: paths are
//      resolved once with openat2(RESOLVE_NO_MAGICLINKS) and the mount is made with
//      move_mount/fsmount on those fds, so a rename racing with us cannot redirect it;
//      (overlay: no new mount, the host files are bound over paths the target already has)
//   5. mknod only: back on the worker thread (host root, the host's mount namespace), the device
//      node is made in the directory the grandchild resolved and proved writable as the caller
//      (its fd comes back over a socketpair), see MknodOnHost;
//   6. fsopen only: the filesystem context the grandchild made comes back over a socketpair and the
//      worker puts it into the caller with SECCOMP_IOCTL_NOTIF_ADDFD|SEND, which answers the call
//      with the new number (value): the manager never holds it past this function. (ADDFD cannot
//      pass O_PATH files, which open_tree and fsmount make: those stay the caller's own calls.)
// The children run in the manager's address space: raw syscalls and stack memory only, every
// signal blocked, results written to a struct the worker reads after they exit.
#include <fcntl.h>
#include <limits.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "mount_abi.h"
#include "syscall_util.h"

#ifndef STATX_ATTR_MOUNT_ROOT
#define STATX_ATTR_MOUNT_ROOT 0x00002000
#endif
#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452  // kernel 6.6 (the same number on every architecture); Debian 12's headers lack it
#endif

namespace {

using vnode::SyscallWorker;
using vnode::WorkResult;

// kMknod is the one mknod op of the API; kBindDev is its fallback round, never accepted from JS.
enum Op { kMountFs = 1, kBind = 2, kMove = 3, kUmount = 4, kMknod = 5, kProbe = 6, kFsopen = 7, kMoveMount = 8, kSetattr = 9, kOverlay = 10, kBindDev = 100 };

// The only devices kMknod makes, whatever the caller of nsAction asks: a node of these is harmless
// anywhere (the policy of who may have one is agent/seccomp's; this is the hard limit of what host
// root creates for a container). The path is the host device bound when no node can be made.
struct SafeDevice {
  unsigned major, minor;
  const char* hostPath;
};
constexpr SafeDevice kSafeDevices[] = {{1, 3, "/dev/null"}, {1, 5, "/dev/zero"}, {1, 7, "/dev/full"},
                                       {1, 8, "/dev/random"}, {1, 9, "/dev/urandom"}, {5, 0, "/dev/tty"}};

const SafeDevice* FindSafeDevice(int64_t major, int64_t minor) {
  for (const SafeDevice& d : kSafeDevices)
    if (d.major == major && d.minor == minor) return &d;
  return nullptr;
}

// Where a failure happened, reported as `stage` so the handler's log says which step failed.
enum Stage {
  kStNone = 0,
  kStOpenTarget,
  kStGone,
  kStPrepare,
  kStSetnsUser,
  kStSetnsMnt,
  kStSetnsNet,  // net, ipc, uts, cgroup
  kStSetnsPid,
  kStCreds,
  kStClone,
  kStRoot,
  kStResolve,
  kStResolveSource,
  kStCheck,
  kStFsopen,
  kStFsconfig,
  kStFsmount,
  kStAttach,
  kStOverlay,
  kStAct,
  kStMknod,
  kStOwner,
};
const char* const kStageNames[] = {"",        "open target",     "caller gone", "prepare",  "setns(user)", "setns(mnt)", "setns(net/ipc/uts/cgroup)",
                                   "setns(pid)", "credentials", "clone",       "chroot",   "resolve target", "resolve source",
                                   "check",   "fsopen",          "fsconfig",    "fsmount",  "attach",      "overlay",    "act",
                                   "host mknod", "owner and mode"};

constexpr size_t kMaxOverlays = 64;
constexpr size_t kStack = 256 * 1024;

struct Overlay {
  int fd;
  const char* rel;
};

struct Ctx {
  // request
  int op = 0;
  bool joinUser = false;
  int userns = -1, mntns = -1, netns = -1, pidns = -1, ipcns = -1, utsns = -1, cgroupns = -1, root = -1, cwd = -1;
  int dirfd = AT_FDCWD;   // our copy of the caller's dirfd (mknodat, move_mount's to), or AT_FDCWD = its cwd
  int dirfd2 = AT_FDCWD;  // the same for move_mount's from_dfd, a bind's source /proc/self/fd/N, mount_setattr's userns_fd
  const char* path = nullptr;
  const char* path2 = nullptr;
  const char* fstype = nullptr;
  const char* source = nullptr;
  const char* data = nullptr;  // mutable copy: split in place
  char* dataBuf = nullptr;
  uint64_t flags = 0;
  uint32_t mode = 0;
  uint32_t umask = 022;
  int devfd = -1;
  unsigned devMajor = 0, devMinor = 0;
  int sock = -1;  // mknod, fsopen: the grandchild's end of the socketpair fds go back on
  bool hasProtect = false;
  uint32_t protMajor = 0, protMinor = 0;
  Overlay overlays[kMaxOverlays];
  size_t nOverlays = 0;
  // setattr: the mount_attr to apply, and the ids of the caller's mounts that are or contain an
  // emulated file's mount (from its mountinfo, read by the worker before the helper runs).
  uint64_t attrSet = 0, attrClr = 0, propagation = 0;
  const uint64_t* guarded = nullptr;
  size_t nGuarded = 0;
  const uint64_t* listed = nullptr;  // every mount of the caller's mountinfo (a detached tree is in none)
  size_t nListed = 0;
  char* stack2 = nullptr;
  // result, written by the children
  int err = 0;
  int stage = 0;
  int64_t value = 0;
  char name[NAME_MAX + 1] = {0};  // mknod: the last component, in the directory sent back
};

inline long Fail(Ctx* c, int stage, int err) {
  c->stage = stage;
  c->err = err;
  return -1;
}

int Openat2(int dirfd, const char* path, int flags, uint64_t resolve, uint32_t mode = 0) {
  open_how how;
  memset(&how, 0, sizeof how);
  how.flags = static_cast<uint64_t>(flags) | O_CLOEXEC;
  how.mode = mode;
  how.resolve = resolve;
  long r;
  do r = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
  while (r < 0 && (errno == EINTR || errno == EAGAIN));  // EAGAIN: a rename raced the lookup
  return static_cast<int>(r);
}

// A mount target as mount(2) resolves it: a path (magic links refused), or, when the path is empty
// and the handler passed the caller's descriptor (its target was /proc/self/fd/N, the way runc
// names every mount target), our copy of that descriptor.
int OpenTarget(Ctx* c) {
  if (!c->path || !c->path[0]) {
    if (c->dirfd == AT_FDCWD) {
      errno = ENOENT;
      return -1;
    }
    return c->dirfd;
  }
  return Openat2(AT_FDCWD, c->path, O_PATH, RESOLVE_NO_MAGICLINKS);
}

int Statx(int dirfd, const char* path, int flags, struct statx* st) {
  return static_cast<int>(syscall(SYS_statx, dirfd, path, flags | AT_STATX_SYNC_AS_STAT, STATX_BASIC_STATS | STATX_MNT_ID, st));
}

bool IsProtected(const Ctx* c, const struct statx& st) {
  return c->hasProtect && st.stx_dev_major == c->protMajor && st.stx_dev_minor == c->protMinor;
}

int MoveFd(int from, int to) {
  return static_cast<int>(syscall(SYS_move_mount, from, "", to, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH));
}

unsigned MountAttrs(uint64_t f) {
  unsigned a = 0;
  if (f & MS_RDONLY) a |= MOUNT_ATTR_RDONLY;
  if (f & MS_NOSUID) a |= MOUNT_ATTR_NOSUID;
  if (f & MS_NODEV) a |= MOUNT_ATTR_NODEV;
  if (f & MS_NOEXEC) a |= MOUNT_ATTR_NOEXEC;
  if (f & MS_NOATIME) a |= MOUNT_ATTR_NOATIME;
  else if (f & MS_STRICTATIME) a |= MOUNT_ATTR_STRICTATIME;
  if (f & MS_NODIRATIME) a |= MOUNT_ATTR_NODIRATIME;
  return a;
}

// A new proc or sysfs mount with the emulated files bound on top before anyone can read it.
long DoMountFs(Ctx* c) {
  int tfd = OpenTarget(c);
  if (tfd < 0) return Fail(c, kStResolve, errno);
  int fs = static_cast<int>(syscall(SYS_fsopen, c->fstype, FSOPEN_CLOEXEC));
  if (fs < 0) return Fail(c, kStFsopen, errno);
  if (c->source && *c->source && syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "source", c->source, 0) < 0) return Fail(c, kStFsconfig, errno);
  if (c->flags & MS_RDONLY && syscall(SYS_fsconfig, fs, FSCONFIG_SET_FLAG, "ro", nullptr, 0) < 0) return Fail(c, kStFsconfig, errno);
  if (c->dataBuf) {
    char* p = c->dataBuf;
    while (p && *p) {
      char* comma = strchr(p, ',');
      if (comma) *comma = 0;
      if (*p) {
        char* eq = strchr(p, '=');
        long r;
        if (eq) {
          *eq = 0;
          r = syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, p, eq + 1, 0);
        } else {
          r = syscall(SYS_fsconfig, fs, FSCONFIG_SET_FLAG, p, nullptr, 0);
        }
        if (r < 0) return Fail(c, kStFsconfig, errno);
      }
      p = comma ? comma + 1 : nullptr;
    }
  }
  if (syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) < 0) return Fail(c, kStFsconfig, errno);
  int mfd = static_cast<int>(syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, MountAttrs(c->flags)));
  if (mfd < 0) return Fail(c, kStFsmount, errno);
  if (MoveFd(mfd, tfd) < 0) return Fail(c, kStAttach, errno);
  int bound = 0;
  for (size_t i = 0; i < c->nOverlays; i++) {
    int ofd = Openat2(mfd, c->overlays[i].rel, O_PATH, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS);
    if (ofd < 0 && errno == ENOENT) continue;  // this kernel has no such file: nothing to hide
    if (ofd < 0 || MoveFd(c->overlays[i].fd, ofd) < 0) {
      int e = errno;
      // Take the half-dressed mount away again: nobody may see it without its emulated files.
      if (fchdir(mfd) == 0) umount2(".", MNT_DETACH);
      return Fail(c, kStOverlay, e);
    }
    bound++;
  }
  c->value = bound;
  return 0;
}

// The overlays (detached clones of host files) bound over existing paths of the target's root, as
// the target sees them from all of its namespaces (procfs gives each pid and network namespace
// its own /proc/sys entries): the container's binds before runc start, without a process. A path the target lacks is
// skipped; none is followed through a symlink. Binds made before a failure stay: the caller
// refuses the container, whose mount namespace goes with it.
long DoOverlay(Ctx* c) {
  int root = Openat2(AT_FDCWD, "/", O_PATH | O_DIRECTORY, RESOLVE_NO_MAGICLINKS);
  if (root < 0) return Fail(c, kStResolve, errno);
  int bound = 0;
  for (size_t i = 0; i < c->nOverlays; i++) {
    const char* rel = c->overlays[i].rel;
    while (*rel == '/') rel++;
    int tfd = Openat2(root, rel, O_PATH, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
    if (tfd < 0 && errno == ENOENT) continue;
    if (tfd < 0) return Fail(c, kStResolve, errno);
    if (MoveFd(c->overlays[i].fd, tfd) < 0) return Fail(c, kStOverlay, errno);
    close(tfd);
    bound++;
  }
  close(root);
  c->value = bound;
  return 0;
}

// A bind mount, recursive whatever was asked when the source is procfs or sysfs (a plain bind
// would leave the emulated files behind and show the real ones). value: 1 if made recursive.
long DoBind(Ctx* c) {
  // Magic links are allowed in a bind source (`ip netns add` binds /proc/self/ns/net): resolved by
  // the caller's root in the caller's namespaces, and the helper holds no descriptor of ours.
  // An empty source with the caller's descriptor: its /proc/self/fd/N (runc 1.2+).
  int sfd = !c->path2[0] && c->dirfd2 != AT_FDCWD ? c->dirfd2 : Openat2(AT_FDCWD, c->path2, O_PATH, 0);
  if (sfd < 0) return Fail(c, kStResolveSource, errno);
  struct statfs sf;
  if (fstatfs(sfd, &sf) < 0) return Fail(c, kStCheck, errno);
  bool rec = (c->flags & MS_REC) != 0;
  bool forced = false;
  if (!rec && (sf.f_type == 0x9fa0 /* PROC_SUPER_MAGIC */ || sf.f_type == 0x62656572 /* SYSFS_MAGIC */)) rec = forced = true;
  int tree = static_cast<int>(syscall(SYS_open_tree, sfd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | (rec ? AT_RECURSIVE : 0)));
  if (tree < 0) return Fail(c, kStAct, errno);
  int tfd = OpenTarget(c);
  if (tfd < 0) return Fail(c, kStResolve, errno);
  // mount(2) answers a file bound on a directory (or the reverse) with ENOTDIR (graft_tree), which
  // runc's maskPaths relies on to mount a tmpfs over a directory instead; move_mount says EINVAL.
  struct statx ss, ts;
  if (Statx(sfd, "", AT_EMPTY_PATH, &ss) < 0 || Statx(tfd, "", AT_EMPTY_PATH, &ts) < 0) return Fail(c, kStCheck, errno);
  if (S_ISDIR(ss.stx_mode) != S_ISDIR(ts.stx_mode)) return Fail(c, kStCheck, ENOTDIR);
  if (MoveFd(tree, tfd) < 0) return Fail(c, kStAttach, errno);
  c->value = forced ? 1 : 0;
  return 0;
}

// MS_MOVE: refused for an emulated file's own mount (moving it away would uncover the real file).
long DoMove(Ctx* c) {
  int sfd = Openat2(AT_FDCWD, c->path2, O_PATH, RESOLVE_NO_MAGICLINKS);
  if (sfd < 0) return Fail(c, kStResolveSource, errno);
  struct statx st;
  if (Statx(sfd, "", AT_EMPTY_PATH, &st) < 0) return Fail(c, kStCheck, errno);
  if (!(st.stx_attributes & STATX_ATTR_MOUNT_ROOT)) return Fail(c, kStCheck, EINVAL);
  if (IsProtected(c, st)) return Fail(c, kStCheck, EPERM);
  int tfd = OpenTarget(c);
  if (tfd < 0) return Fail(c, kStResolve, errno);
  if (MoveFd(sfd, tfd) < 0) return Fail(c, kStAct, errno);
  return 0;
}

// Splits path into (parent fd, last name) the way umount2 would find it: symlinks in the last
// component are followed unless nofollow. name points into buf.
int ParentAndName(int base, const char* path, bool nofollow, char* buf, size_t bufLen, const char** name) {
  size_t n = strnlen(path, bufLen);
  if (n == 0) {
    errno = ENOENT;
    return -1;
  }
  if (n >= bufLen) {
    errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(buf, path, n + 1);
  int cur = base;
  for (int hops = 0; hops < 40; hops++) {
    size_t len = strlen(buf);
    while (len > 1 && buf[len - 1] == '/') buf[--len] = 0;
    char* slash = strrchr(buf, '/');
    const char* last = slash ? slash + 1 : buf;
    if (!*last || !strcmp(last, ".") || !strcmp(last, "..")) {
      errno = EXDEV;  // no (parent, name) pair: the caller acts on the path itself
      return -1;
    }
    int pfd;
    if (slash == buf) pfd = Openat2(cur, "/", O_PATH | O_DIRECTORY, RESOLVE_NO_MAGICLINKS);
    else if (slash) {
      *slash = 0;
      pfd = Openat2(cur, buf, O_PATH | O_DIRECTORY, RESOLVE_NO_MAGICLINKS);
      *slash = '/';
    } else {
      pfd = Openat2(cur, ".", O_PATH | O_DIRECTORY, RESOLVE_NO_MAGICLINKS);
    }
    if (pfd < 0) return -1;
    if (!nofollow) {
      struct statx st;
      if (Statx(pfd, last, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, &st) == 0 && S_ISLNK(st.stx_mode)) {
        char link[4096];
        ssize_t l = readlinkat(pfd, last, link, sizeof link - 1);
        if (l < 0) return -1;
        link[l] = 0;
        memcpy(buf, link, static_cast<size_t>(l) + 1);
        cur = pfd;  // a relative link is relative to its directory
        continue;
      }
    }
    memmove(buf, last, strlen(last) + 1);
    *name = buf;
    return pfd;
  }
  errno = ELOOP;
  return -1;
}

// umount2 that refuses the emulated files: the mount found at (parent fd, name) is checked and
// then unmounted through the same parent fd and name, so the checked mount is the one removed.
long DoUmount(Ctx* c) {
  bool nofollow = (c->flags & UMOUNT_NOFOLLOW) != 0;
  char buf[4096];
  const char* name = nullptr;
  int pfd = ParentAndName(AT_FDCWD, c->path, nofollow, buf, sizeof buf, &name);
  struct statx st;
  if (pfd < 0) {
    if (errno != EXDEV) return Fail(c, kStResolve, errno);
    // "/", "." or "..": no name to pin; check what the path is now and let the kernel decide.
    if (Statx(AT_FDCWD, c->path, nofollow ? AT_SYMLINK_NOFOLLOW : 0, &st) < 0) return Fail(c, kStResolve, errno);
    if (IsProtected(c, st)) return Fail(c, kStCheck, EPERM);
    if (umount2(c->path, static_cast<int>(c->flags)) < 0) return Fail(c, kStAct, errno);
    return 0;
  }
  if (Statx(pfd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, &st) < 0) return Fail(c, kStResolve, errno);
  if (!(st.stx_attributes & STATX_ATTR_MOUNT_ROOT)) return Fail(c, kStCheck, EINVAL);
  if (IsProtected(c, st)) return Fail(c, kStCheck, EPERM);
  if (fchdir(pfd) < 0) return Fail(c, kStAct, errno);
  if (umount2(name, static_cast<int>(c->flags | UMOUNT_NOFOLLOW)) < 0) return Fail(c, kStAct, errno);
  return 0;
}

// Sends n descriptors (at most 2) over the socketpair to the worker thread: < 0 on failure.
long SendFds(int sock, const int* fds, size_t n) {
  char cbuf[CMSG_SPACE(2 * sizeof(int))];
  memset(cbuf, 0, sizeof cbuf);
  char byte = 'd';
  iovec iov{&byte, 1};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = cbuf;
  msg.msg_controllen = CMSG_SPACE(n * sizeof(int));
  cmsghdr* cm = CMSG_FIRSTHDR(&msg);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(n * sizeof(int));
  memcpy(CMSG_DATA(cm), fds, n * sizeof(int));
  return sendmsg(sock, &msg, MSG_NOSIGNAL);
}

// mknod, first round, as the caller (root of its user namespace, in its root and cwd): proves the
// node may be created at this path. The parent directory is resolved once; a placeholder is made
// in it with O_CREAT|O_EXCL and the caller's umask, so every check of creation is the kernel's
// own (EEXIST also for a symlink, dangling or not: mknod never follows the last component; EACCES,
// EROFS, ENOENT, EDQUOT, ...) and the placeholder's owner and mode are what the caller's node gets
// (umask or default ACL, a setgid directory's group). The directory fd and the placeholder go to
// the worker over c->sock; then the placeholder is removed again, still as the caller, so the
// host's step never removes or replaces a name (MknodOnHost only creates).
long DoMknodPlace(Ctx* c) {
  size_t n = strnlen(c->path, 4096);
  if (n == 0) return Fail(c, kStResolve, ENOENT);
  if (n >= 4096) return Fail(c, kStResolve, ENAMETOOLONG);
  char buf[4096];
  memcpy(buf, c->path, n + 1);
  bool trailingSlash = false;
  while (n > 1 && buf[n - 1] == '/') buf[--n] = 0, trailingSlash = true;
  char* slash = strrchr(buf, '/');
  const char* last = slash ? slash + 1 : buf;
  const char* dir = ".";
  if (slash == buf) dir = "/";
  else if (slash) {
    *slash = 0;
    dir = buf;
  }
  // "/", "." and "..": the kernel's answer is EEXIST once the directory itself resolves.
  bool noName = !*last || !strcmp(last, ".") || !strcmp(last, "..");
  int pfd = Openat2(c->dirfd, noName && slash != buf ? c->path : dir, O_PATH | O_DIRECTORY, RESOLVE_NO_MAGICLINKS);
  if (pfd < 0) return Fail(c, kStResolve, errno);
  if (noName) return Fail(c, kStResolve, EEXIST);
  size_t ln = strlen(last);
  if (ln > NAME_MAX) return Fail(c, kStResolve, ENAMETOOLONG);
  if (trailingSlash) {
    // "name/" asks for a directory: EEXIST if the name is taken, ENOENT if not (filename_create).
    struct statx st;
    if (Statx(pfd, last, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, &st) == 0) return Fail(c, kStResolve, EEXIST);
    return Fail(c, kStResolve, errno);
  }
  umask(c->umask);
  int ph = Openat2(pfd, last, O_RDONLY | O_CREAT | O_EXCL | O_NOFOLLOW, RESOLVE_NO_MAGICLINKS, c->mode & 07777);
  if (ph < 0) return Fail(c, kStResolve, errno);
  memcpy(c->name, last, ln + 1);
  int fds[2] = {pfd, ph};
  long sent = SendFds(c->sock, fds, 2);
  int sendErr = errno;
  // Whatever failure: if the name no longer holds our placeholder, someone who can write the
  // directory changed it; the host's mknodat then finds the name taken (EEXIST) or free.
  unlinkat(pfd, last, 0);
  if (sent < 0) return Fail(c, kStAct, sendErr);
  return 0;
}

// mknod fallback round, as the caller: an empty file made the way mknod would (O_EXCL, the
// caller's umask) with the host's device bound on it (nosuid, noexec), as sysbox does. Used only
// where host root cannot make a node (MknodOnHost): a filesystem mounted inside a user namespace,
// where a node could not be opened anyway (SB_I_NODEV).
long DoBindDev(Ctx* c) {
  umask(c->umask);
  int fd = Openat2(c->dirfd, c->path, O_RDONLY | O_CREAT | O_EXCL | O_NOFOLLOW, RESOLVE_NO_MAGICLINKS, c->mode & 07777);
  if (fd < 0) return Fail(c, kStResolve, errno);
  if (MoveFd(c->devfd, fd) < 0) {
    int e = errno;
    unlinkat(c->dirfd, c->path, 0);
    return Fail(c, kStAttach, e);
  }
  c->value = 1;
  return 0;
}

// Resolves path and reports its device and whether it is a mount root (tests and diagnostics).
long DoProbe(Ctx* c) {
  int fd = Openat2(AT_FDCWD, c->path, O_PATH, RESOLVE_NO_MAGICLINKS);
  if (fd < 0) return Fail(c, kStResolve, errno);
  struct statx st;
  if (Statx(fd, "", AT_EMPTY_PATH, &st) < 0) return Fail(c, kStCheck, errno);
  c->value = (st.stx_attributes & STATX_ATTR_MOUNT_ROOT ? 1 : 0) | (IsProtected(c, st) ? 2 : 0);
  return 0;
}

// Resolves (dirfd, path) the way the fd mount API resolves a path, with the kernel's own lookup:
// open_tree without OPEN_TREE_CLONE is an O_PATH open honouring AT_EMPTY_PATH, AT_NO_AUTOMOUNT and
// AT_SYMLINK_NOFOLLOW. Magic links are the caller's own (the handler turned /proc/self into its
// pid and /proc/self/fd/N into its descriptor N).
int LookupAt(int dirfd, const char* path, unsigned atFlags) {
  return static_cast<int>(syscall(SYS_open_tree, dirfd, path, OPEN_TREE_CLOEXEC | (atFlags & (AT_EMPTY_PATH | AT_NO_AUTOMOUNT | AT_SYMLINK_NOFOLLOW))));
}

// A move_mount end or mount_setattr's target: the caller's descriptor itself when the path is
// empty with AT_EMPTY_PATH (a detached tree is attached through its own file, not a reopened
// copy), else the path looked up with the caller's flags.
int DescriptorOrLookup(int dirfd, const char* path, unsigned atFlags) {
  if (!path[0] && (atFlags & AT_EMPTY_PATH) && dirfd != AT_FDCWD) return dirfd;
  return LookupAt(dirfd, path, atFlags);
}

// The lookup flags of one end of move_mount (its F_ or T_ flags) as open_tree's AT_ flags.
unsigned MoveEndFlags(unsigned f, unsigned emptyPath, unsigned symlinks, unsigned automounts) {
  return (f & emptyPath ? AT_EMPTY_PATH : 0) | (f & symlinks ? 0 : AT_SYMLINK_NOFOLLOW) | (f & automounts ? 0 : AT_NO_AUTOMOUNT);
}

bool IsProcOrSys(const char* fstype) { return !strcmp(fstype, "proc") || !strcmp(fstype, "sysfs"); }

// fsopen(fstype): a filesystem context made in the caller's namespaces as the root of its user
// namespace, so the superblock it creates belongs to that namespace (the kernel's rules for a
// user namespace apply from fsconfig on, which the caller calls itself). Never proc or sysfs: their
// mounts must carry the emulated files, which only mount(2) through the manager gives.
long DoFsopen(Ctx* c) {
  if (IsProcOrSys(c->fstype)) return Fail(c, kStCheck, ENOSYS);
  int fs = static_cast<int>(syscall(SYS_fsopen, c->fstype, FSOPEN_CLOEXEC));
  if (fs < 0) return Fail(c, kStFsopen, errno);
  if (SendFds(c->sock, &fs, 1) < 0) return Fail(c, kStAct, errno);
  return 0;
}

// move_mount: both ends resolved once with the caller's lookup flags, the source refused if it is
// an emulated file's own mount (moving it away would uncover the real file), then moved fd to fd.
// MOVE_MOUNT_SET_GROUP and MOVE_MOUNT_BENEATH keep their meaning (a mount beneath an emulated file
// stays under it).
long DoMoveMount(Ctx* c) {
  unsigned f = static_cast<unsigned>(c->flags);
  int sfd = DescriptorOrLookup(c->dirfd2, c->path2, MoveEndFlags(f, MOVE_MOUNT_F_EMPTY_PATH, MOVE_MOUNT_F_SYMLINKS, MOVE_MOUNT_F_AUTOMOUNTS));
  if (sfd < 0) return Fail(c, kStResolveSource, errno);
  struct statx st;
  if (Statx(sfd, "", AT_EMPTY_PATH, &st) < 0) return Fail(c, kStCheck, errno);
  if (IsProtected(c, st)) return Fail(c, kStCheck, EPERM);
  int tfd = DescriptorOrLookup(c->dirfd, c->path, MoveEndFlags(f, MOVE_MOUNT_T_EMPTY_PATH, MOVE_MOUNT_T_SYMLINKS, MOVE_MOUNT_T_AUTOMOUNTS));
  if (tfd < 0) return Fail(c, kStResolve, errno);
  unsigned keep = f & (MOVE_MOUNT_SET_GROUP | MOVE_MOUNT_BENEATH);
  if (syscall(SYS_move_mount, sfd, "", tfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH | keep) < 0) return Fail(c, kStAct, errno);
  return 0;
}

// mount_setattr, and mount(2)'s propagation changes to MS_UNBINDABLE (as mount_setattr): an emulated
// file's mount must never become unbindable (a recursive copy, which the manager and open_tree
// rely on to carry the emulated files, leaves unbindable mounts out), so making one unbindable,
// itself or with AT_RECURSIVE from a mount above it, is EPERM. The userns fd of MOUNT_ATTR_IDMAP
// is our copy of the caller's (dirfd2).
long DoSetattr(Ctx* c) {
  unsigned f = static_cast<unsigned>(c->flags);
  int tfd = DescriptorOrLookup(c->dirfd, c->path, f);
  if (tfd < 0) return Fail(c, kStResolve, errno);
  if (c->propagation & MS_UNBINDABLE) {
    struct statx st;
    if (Statx(tfd, "", AT_EMPTY_PATH, &st) < 0) return Fail(c, kStCheck, errno);
    if (IsProtected(c, st)) return Fail(c, kStCheck, EPERM);
    if (f & AT_RECURSIVE) {
      // Only below a mount the caller's mountinfo lists can we know there is no emulated file: a
      // detached tree (a recursive open_tree copy of /proc carries them) or a mount outside its
      // root is refused.
      bool listed = false;
      for (size_t i = 0; i < c->nListed && !listed; i++) listed = c->listed[i] == st.stx_mnt_id;
      if (!listed) return Fail(c, kStCheck, EPERM);
      for (size_t i = 0; i < c->nGuarded; i++)
        if (c->guarded[i] == st.stx_mnt_id) return Fail(c, kStCheck, EPERM);
    }
  }
  mount_attr a;
  memset(&a, 0, sizeof a);
  a.attr_set = c->attrSet;
  a.attr_clr = c->attrClr;
  a.propagation = c->propagation;
  a.userns_fd = c->dirfd2 >= 0 ? static_cast<uint64_t>(c->dirfd2) : 0;
  if (syscall(SYS_mount_setattr, tfd, "", AT_EMPTY_PATH | (f & AT_RECURSIVE), &a, sizeof a) < 0) return Fail(c, kStAct, errno);
  return 0;
}

int Grandchild(void* arg) {
  Ctx* c = static_cast<Ctx*>(arg);
  if (fchdir(c->root) < 0 || chroot(".") < 0 || fchdir(c->cwd) < 0) {
    Fail(c, kStRoot, errno);
    return 0;
  }
  switch (c->op) {
    case kMountFs: DoMountFs(c); break;
    case kBind: DoBind(c); break;
    case kMove: DoMove(c); break;
    case kUmount: DoUmount(c); break;
    case kMknod: DoMknodPlace(c); break;
    case kBindDev: DoBindDev(c); break;
    case kProbe: DoProbe(c); break;
    case kFsopen: DoFsopen(c); break;
    case kMoveMount: DoMoveMount(c); break;
    case kSetattr: DoSetattr(c); break;
    case kOverlay: DoOverlay(c); break;
    default: Fail(c, kStPrepare, EINVAL);
  }
  return 0;
}

// Closes every inherited descriptor but the ones the action uses: the children start with a copy
// of the manager's table, and /proc/self/fd/N of the helper must not reach a manager file.
void CloseAllBut(const Ctx* c) {
  int keep[kMaxOverlays + 16];
  size_t n = 0;
  auto add = [&](int fd) {
    if (fd >= 0 && n < sizeof keep / sizeof keep[0]) keep[n++] = fd;
  };
  add(c->userns), add(c->mntns), add(c->netns), add(c->pidns), add(c->ipcns), add(c->utsns), add(c->cgroupns);
  add(c->root), add(c->cwd), add(c->dirfd), add(c->dirfd2), add(c->devfd), add(c->sock);
  for (size_t i = 0; i < c->nOverlays; i++) add(c->overlays[i].fd);
  for (size_t i = 1; i < n; i++)
    for (size_t j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
      int t = keep[j];
      keep[j] = keep[j - 1];
      keep[j - 1] = t;
    }
  unsigned lo = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned k = static_cast<unsigned>(keep[i]);
    if (k > lo) syscall(SYS_close_range, lo, k - 1, 0u);
    lo = k + 1;
  }
  syscall(SYS_close_range, lo, ~0u, 0u);
}

int Child(void* arg) {
  Ctx* c = static_cast<Ctx*>(arg);
  CloseAllBut(c);
  // The caller's net, ipc, uts and cgroup namespaces (those that differ from ours), while we are
  // still privileged everywhere: a container may share one owned by the host (no cgroup
  // namespace of its own, say), which its user namespace could not join. Together with the rest
  // they make the helper's /proc/self/ns/* the caller's.
  if (c->netns >= 0 && syscall(SYS_setns, c->netns, CLONE_NEWNET) < 0) return Fail(c, kStSetnsNet, errno), 0;
  if (c->ipcns >= 0 && syscall(SYS_setns, c->ipcns, CLONE_NEWIPC) < 0) return Fail(c, kStSetnsNet, errno), 0;
  if (c->utsns >= 0 && syscall(SYS_setns, c->utsns, CLONE_NEWUTS) < 0) return Fail(c, kStSetnsNet, errno), 0;
  if (c->cgroupns >= 0 && syscall(SYS_setns, c->cgroupns, CLONE_NEWCGROUP) < 0) return Fail(c, kStSetnsNet, errno), 0;
  if (c->joinUser && syscall(SYS_setns, c->userns, CLONE_NEWUSER) < 0) return Fail(c, kStSetnsUser, errno), 0;
  if (syscall(SYS_setns, c->mntns, CLONE_NEWNS) < 0) return Fail(c, kStSetnsMnt, errno), 0;
  if (syscall(SYS_setns, c->pidns, CLONE_NEWPID) < 0) return Fail(c, kStSetnsPid, errno), 0;
  if (c->joinUser) {
    // Root of the caller's namespace, as runc's init is: files we create belong to it.
    if (syscall(SYS_setgroups, 0, nullptr) < 0 && errno != EPERM) return Fail(c, kStCreds, errno), 0;
    if (syscall(SYS_setresgid, 0, 0, 0) < 0 || syscall(SYS_setresuid, 0, 0, 0) < 0) return Fail(c, kStCreds, errno), 0;
  }
  long pid = clone(Grandchild, c->stack2 + kStack, CLONE_VM | CLONE_VFORK | SIGCHLD, c);
  if (pid < 0) return Fail(c, kStClone, errno), 0;
  int st;
  while (waitpid(static_cast<pid_t>(pid), &st, __WALL) < 0 && errno == EINTR) {
  }
  return 0;
}

// The caller's namespace of `kind` if it is not ours (-1: already there, nothing to join).
int OtherNs(const std::string& proc, const char* kind, int& err) {
  err = 0;
  std::string mine = std::string("/proc/self/ns/") + kind;
  struct stat a, b;
  if (stat((proc + "/ns/" + kind).c_str(), &a) != 0) {
    err = errno;
    return -1;
  }
  if (stat(mine.c_str(), &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev) return -1;
  int fd = open((proc + "/ns/" + kind).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) err = errno;
  return fd;
}

// Clones the helper (Child, then Grandchild) for c.op and waits for it: 0, or the errno of a
// failed mmap/clone. The result of the action is in c.err/c.stage/c.value.
int RunChildren(Ctx& c) {
  void* stacks = mmap(nullptr, 2 * kStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stacks == MAP_FAILED) return errno;
  char* stack1 = static_cast<char*>(stacks);
  c.stack2 = stack1 + kStack;
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);  // the children inherit it: no handler of ours runs in them
  long pid = clone(Child, stack1 + kStack, CLONE_VM | CLONE_VFORK | SIGCHLD, &c);
  int cloneErr = errno;
  if (pid > 0) {
    int st;
    while (waitpid(static_cast<pid_t>(pid), &st, __WALL) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  munmap(stacks, 2 * kStack);
  c.stack2 = nullptr;
  return pid < 0 ? cloneErr : 0;
}

// The (directory, placeholder) pair DoMknodPlace sent, if it sent one. The helper has exited: the
// message is either queued or was never sent.
void ReceiveFds(int sock, int out[2]) {
  char byte;
  iovec iov{&byte, 1};
  char cbuf[CMSG_SPACE(2 * sizeof(int))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = cbuf;
  msg.msg_controllen = sizeof cbuf;
  if (recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) <= 0) return;
  for (cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
    if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
    size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < n; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof fd);
      if (i < 2 && out[i] < 0) out[i] = fd;
      else close(fd);
    }
  }
}

constexpr int kUseBind = -1;

// chmod of the inode an O_PATH fd names: fchmodat2(AT_EMPTY_PATH) (6.6), else through the
// worker's own /proc (the host's, never a container's) for older kernels.
int ChmodFd(int fd, mode_t mode) {
  long r = syscall(SYS_fchmodat2, fd, "", mode, AT_EMPTY_PATH);
  if (r < 0 && errno == ENOSYS) r = chmod(("/proc/thread-self/fd/" + std::to_string(fd)).c_str(), mode);
  return static_cast<int>(r);
}

// mknod, second step, on the worker thread: host root (CAP_MKNOD of the initial user namespace),
// in the host's mount namespace, acting only on the directory fd the caller's step resolved and
// only on one name in it, never followed:
//   1. mknodat(dir, name, S_IFCHR | 0000): creates, never replaces (EEXIST if the name was taken
//      since the placeholder went). Mode 0 and owned by host root until step 3: nobody but host
//      root can open it in between.
//   2. The name is opened O_PATH without following a symlink or crossing a mount, and must be
//      what step 1 made (a character device of this number, mode 0, owned by us); if someone
//      renamed it away in between: EEXIST, and the mode-0 node stays wherever they put it (in a
//      directory they can write, so they can remove it).
//   3. Owner, group and mode are set on that fd to the placeholder's: the node belongs to whoever
//      the caller's own mknod would have made it belong to (the vNode's root).
// Returns 0, an errno (with *stage) or kUseBind: host root cannot create there. EOVERFLOW: the
// filesystem belongs to a user namespace that does not map host root (a tmpfs, overlay or /dev
// the pod mounted itself: SB_I_NODEV, a node there could never be opened); EACCES: FUSE or NFS
// refusing host root; EPERM: no device nodes on this filesystem type. Nothing else is touched
// before that decision (not even a stat of the placeholder, which FUSE would refuse us too).
int MknodOnHost(const Ctx& c, int pfd, int placeholder, int* stage) {
  dev_t dev = makedev(c.devMajor, c.devMinor);
  if (mknodat(pfd, c.name, S_IFCHR, dev) < 0) {
    int e = errno;
    if (e == EOVERFLOW || e == EACCES || e == EPERM) return kUseBind;
    return *stage = kStMknod, e;
  }
  int nfd = Openat2(pfd, c.name, O_PATH | O_NOFOLLOW, RESOLVE_BENEATH | RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
  if (nfd < 0) return *stage = kStCheck, EEXIST;
  struct stat st, ph;
  int r = 0;
  if (fstat(nfd, &st) < 0 || !S_ISCHR(st.st_mode) || st.st_rdev != dev || (st.st_mode & 07777) != 0 || st.st_uid != geteuid()) {
    *stage = kStCheck, r = EEXIST;
  } else if (fstat(placeholder, &ph) < 0 || fchownat(nfd, "", ph.st_uid, ph.st_gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0 ||
             ChmodFd(nfd, ph.st_mode & 07777) < 0) {
    // chown before chmod: chown clears set-id bits. If a step fails, take our node away again
    // (only if the name still holds it) rather than leave a host-root node behind.
    *stage = kStOwner, r = errno;
    struct stat now;
    if (fstatat(pfd, c.name, &now, AT_SYMLINK_NOFOLLOW) == 0 && now.st_ino == st.st_ino && now.st_dev == st.st_dev) unlinkat(pfd, c.name, 0);
  }
  close(nfd);
  return r;
}

struct Request {
  int op = 0;
  int64_t pid = 0;
  int64_t listener = -1;
  uint64_t id = 0;
  bool joinUser = false;
  std::string path, path2, fstype, source, data;
  bool hasPath = false, hasPath2 = false, hasFstype = false, hasSource = false, hasData = false;
  uint64_t flags = 0;
  int64_t mode = 0, umask = 022, targetDirfd = -1, targetDirfd2 = -1;
  int64_t devMajor = -1, devMinor = -1;
  bool hasProtect = false;
  uint32_t protMajor = 0, protMinor = 0;
  std::vector<std::pair<std::string, std::string>> overlays;  // (host source, path inside the new mount)
  int64_t attrSet = 0, attrClr = 0, propagation = 0;
};

// From /proc/<pid>/mountinfo (the caller's namespace, read from the host's /proc, which the
// caller cannot fake): the ids of every mount listed, and of those that are an emulated file's
// mount or lie above one (guarded).
bool GuardedMounts(const std::string& proc, uint32_t major, uint32_t minor, std::vector<uint64_t>& out, std::vector<uint64_t>& listed) {
  FILE* f = fopen((proc + "/mountinfo").c_str(), "re");
  if (!f) return false;
  std::vector<std::pair<uint64_t, uint64_t>> parent;  // (id, parent id)
  std::vector<uint64_t> prot;
  char* line = nullptr;
  size_t cap = 0;
  while (getline(&line, &cap, f) > 0) {
    unsigned long long id, par;
    unsigned ma, mi;
    if (sscanf(line, "%llu %llu %u:%u", &id, &par, &ma, &mi) != 4) continue;
    parent.emplace_back(id, par);
    listed.push_back(id);
    if (ma == major && mi == minor) prot.push_back(id);
  }
  free(line);
  fclose(f);
  for (uint64_t id : prot) {
    for (size_t hops = 0; hops < parent.size() + 1; hops++) {
      out.push_back(id);
      uint64_t next = 0;
      bool found = false;
      for (auto& [i, p] : parent)
        if (i == id) {
          next = p, found = true;
          break;
        }
      if (!found || next == id) break;
      id = next;
    }
  }
  return true;
}

WorkResult Run(Request& q) {
  Ctx c;
  c.op = q.op;
  c.joinUser = q.joinUser;
  c.flags = q.flags;
  c.mode = static_cast<uint32_t>(q.mode);
  c.umask = static_cast<uint32_t>(q.umask) & 0777;
  c.hasProtect = q.hasProtect;
  c.protMajor = q.protMajor;
  c.protMinor = q.protMinor;
  c.attrSet = static_cast<uint64_t>(q.attrSet);
  c.attrClr = static_cast<uint64_t>(q.attrClr);
  c.propagation = static_cast<uint64_t>(q.propagation);
  c.path = q.hasPath ? q.path.c_str() : nullptr;
  c.path2 = q.hasPath2 ? q.path2.c_str() : nullptr;
  c.fstype = q.hasFstype ? q.fstype.c_str() : nullptr;
  c.source = q.hasSource ? q.source.c_str() : nullptr;
  std::vector<char> dataCopy;
  if (q.hasData) {
    dataCopy.assign(q.data.begin(), q.data.end());
    dataCopy.push_back(0);
    c.dataBuf = dataCopy.data();
  }
  std::vector<int> fds;
  auto keep = [&fds](int fd) {
    if (fd >= 0) fds.push_back(fd);
    return fd;
  };
  auto cleanup = [&fds]() {
    // Idempotent: a second close of a number another thread has reused would close its file.
    for (int fd : fds) close(fd);
    fds.clear();
  };
  WorkResult res;
  auto fail = [&](int stage, int err) {
    cleanup();
    res.value = 0;
    res.err = 0;
    res.call = "";
    res.message = "";
    // Reported as data, not a rejection: the handler answers the caller with this errno.
    res.value = (static_cast<int64_t>(stage) << 16) | (err & 0xffff);
    res.call = "fail";
    return res;
  };

  std::string proc = "/proc/" + std::to_string(q.pid);
  if (keep(c.mntns = open((proc + "/ns/mnt").c_str(), O_RDONLY | O_CLOEXEC)) < 0) return fail(kStOpenTarget, errno);
  if (keep(c.pidns = open((proc + "/ns/pid").c_str(), O_RDONLY | O_CLOEXEC)) < 0) return fail(kStOpenTarget, errno);
  if (q.joinUser && keep(c.userns = open((proc + "/ns/user").c_str(), O_RDONLY | O_CLOEXEC)) < 0) return fail(kStOpenTarget, errno);
  int nsErr;
  if (keep(c.netns = OtherNs(proc, "net", nsErr)) < 0 && nsErr) return fail(kStOpenTarget, nsErr);
  if (keep(c.ipcns = OtherNs(proc, "ipc", nsErr)) < 0 && nsErr) return fail(kStOpenTarget, nsErr);
  if (keep(c.utsns = OtherNs(proc, "uts", nsErr)) < 0 && nsErr) return fail(kStOpenTarget, nsErr);
  if (keep(c.cgroupns = OtherNs(proc, "cgroup", nsErr)) < 0 && nsErr && nsErr != ENOENT) return fail(kStOpenTarget, nsErr);
  if (keep(c.root = open((proc + "/root").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) return fail(kStOpenTarget, errno);
  if (keep(c.cwd = open((proc + "/cwd").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) return fail(kStOpenTarget, errno);
  if (q.targetDirfd >= 0 || q.targetDirfd2 >= 0) {
    // q.pid is the calling thread; a thread that is not its group's leader needs PIDFD_THREAD (6.9).
    int pfd = static_cast<int>(syscall(SYS_pidfd_open, static_cast<pid_t>(q.pid), 0u));
    if (pfd < 0 && errno == EINVAL) pfd = static_cast<int>(syscall(SYS_pidfd_open, static_cast<pid_t>(q.pid), static_cast<unsigned>(O_EXCL)));
    if (keep(pfd) < 0) return fail(kStOpenTarget, errno);
    for (auto [want, out] : {std::pair<int64_t, int*>{q.targetDirfd, &c.dirfd}, {q.targetDirfd2, &c.dirfd2}}) {
      if (want < 0) continue;
      int d = static_cast<int>(syscall(SYS_pidfd_getfd, pfd, static_cast<int>(want), 0u));
      if (keep(d) < 0) return fail(kStOpenTarget, errno == ESRCH ? ESRCH : EBADF);
      *out = d;
    }
  }
  // Everything above names the caller's process only if its call is still pending now.
  if (q.listener >= 0) {
    __u64 id = q.id;
    if (ioctl(static_cast<int>(q.listener), SECCOMP_IOCTL_NOTIF_ID_VALID, &id) != 0) return fail(kStGone, ENOENT);
  }
  std::vector<uint64_t> guarded, listed;
  if (q.op == kSetattr && (c.propagation & MS_UNBINDABLE) && c.hasProtect) {
    if (!GuardedMounts(proc, c.protMajor, c.protMinor, guarded, listed)) return fail(kStPrepare, errno);
    c.guarded = guarded.data();
    c.nGuarded = guarded.size();
    c.listed = listed.data();
    c.nListed = listed.size();
  }
  int sv[2] = {-1, -1};
  bool givesFd = q.op == kFsopen;
  if (q.op == kMknod || givesFd) {
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) return fail(kStPrepare, errno);
    keep(sv[0]), keep(sv[1]);
    c.sock = sv[1];
    c.devMajor = static_cast<unsigned>(q.devMajor);
    c.devMinor = static_cast<unsigned>(q.devMinor);
  }
  for (auto& o : q.overlays) {
    if (c.nOverlays >= kMaxOverlays) break;
    int d = static_cast<int>(syscall(SYS_open_tree, AT_FDCWD, o.first.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
    if (d < 0 && errno == ENOENT) continue;
    if (keep(d) < 0) return fail(kStPrepare, errno);
    c.overlays[c.nOverlays++] = Overlay{d, o.second.c_str()};
  }

  if (int e = RunChildren(c)) return fail(kStClone, e);
  // What the grandchild sent back (mknod: directory and placeholder; fsopen: the context).
  int got[2] = {-1, -1};
  if (c.sock >= 0) {
    ReceiveFds(sv[0], got);
    keep(got[0]), keep(got[1]);
    if (c.err) return fail(c.stage, c.err);
    // The grandchild reported success without sending.
    if (got[0] < 0 || (q.op == kMknod && got[1] < 0)) return fail(kStAct, EIO);
  }
  if (givesFd) {
    // The caller's own FSOPEN_CLOEXEC decides close-on-exec.
    bool cloexec = (q.flags & FSOPEN_CLOEXEC) != 0;
    seccomp_notif_addfd a;
    memset(&a, 0, sizeof a);
    a.id = q.id;
    a.flags = SECCOMP_ADDFD_FLAG_SEND;
    a.srcfd = static_cast<__u32>(got[0]);
    a.newfd_flags = cloexec ? O_CLOEXEC : 0;
    int n = ioctl(static_cast<int>(q.listener), SECCOMP_IOCTL_NOTIF_ADDFD, &a);
    // ENOENT: the call is no longer pending (the caller was killed): nothing reached it.
    if (n < 0) return fail(errno == ENOENT ? kStGone : kStAct, errno);
    cleanup();
    res.value = n;
    res.call = "ok";
    return res;
  }
  if (q.op == kMknod) {
    int stage = 0;
    int r = MknodOnHost(c, got[0], got[1], &stage);
    if (r > 0) return fail(stage, r);
    if (r == kUseBind) {
      // Second round, entirely as the caller again (the path is resolved anew; whatever changed in
      // between is the caller's own doing and gets the kernel's answer).
      if (q.listener >= 0) {
        __u64 id = q.id;
        if (ioctl(static_cast<int>(q.listener), SECCOMP_IOCTL_NOTIF_ID_VALID, &id) != 0) return fail(kStGone, ENOENT);
      }
      const SafeDevice* dev = FindSafeDevice(c.devMajor, c.devMinor);
      int d = static_cast<int>(syscall(SYS_open_tree, AT_FDCWD, dev->hostPath, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
      if (keep(d) < 0) return fail(kStPrepare, errno);
      mount_attr a;
      memset(&a, 0, sizeof a);
      a.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC;
      if (syscall(SYS_mount_setattr, d, "", AT_EMPTY_PATH, &a, sizeof a) < 0) return fail(kStPrepare, errno);
      c.devfd = d;
      c.sock = -1;
      c.op = kBindDev;
      c.err = c.stage = 0;
      c.value = 0;
      if (int e = RunChildren(c)) return fail(kStClone, e);
    }
  }
  cleanup();
  if (c.err) return fail(c.stage, c.err);
  res.value = c.value;
  res.call = "ok";
  return res;
}

bool GetStr(Napi::Object o, const char* key, std::string& out, bool& has) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return true;
  if (!v.IsString()) {
    Napi::TypeError::New(o.Env(), std::string("nsAction: ") + key + " must be a string").ThrowAsJavaScriptException();
    return false;
  }
  out = v.As<Napi::String>().Utf8Value();
  if (out.find('\0') != std::string::npos) {
    Napi::TypeError::New(o.Env(), std::string("nsAction: ") + key + " contains NUL").ThrowAsJavaScriptException();
    return false;
  }
  has = true;
  return true;
}

bool GetNum(Napi::Object o, const char* key, int64_t& out) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return true;
  if (v.IsBigInt()) {
    bool lossless;
    out = v.As<Napi::BigInt>().Int64Value(&lossless);
    return true;
  }
  if (!v.IsNumber()) {
    Napi::TypeError::New(o.Env(), std::string("nsAction: ") + key + " must be a number").ThrowAsJavaScriptException();
    return false;
  }
  out = v.As<Napi::Number>().Int64Value();
  return true;
}

// nsAction({ op, pid, listener?, id?, joinUser?, path?, path2?, fstype?, source?, data?,
//            flags?, mode?, umask?, dirfd?, dirfd2?, rdev?: [major, minor], protect?: [major, minor],
//            attrSet?, attrClr?, propagation?,
//            overlays?: [[src, rel]] })
Napi::Value NsAction(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    Napi::TypeError::New(env, "nsAction: request must be an object").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object o = info[0].As<Napi::Object>();
  auto q = std::make_shared<Request>();
  int64_t op = 0, flags = 0;
  if (!GetNum(o, "op", op) || !GetNum(o, "pid", q->pid) || !GetNum(o, "listener", q->listener) || !GetNum(o, "flags", flags) ||
      !GetNum(o, "mode", q->mode) || !GetNum(o, "umask", q->umask) || !GetNum(o, "dirfd", q->targetDirfd) || !GetNum(o, "dirfd2", q->targetDirfd2) ||
      !GetNum(o, "attrSet", q->attrSet) || !GetNum(o, "attrClr", q->attrClr) || !GetNum(o, "propagation", q->propagation))
    return env.Undefined();
  q->op = static_cast<int>(op);
  q->flags = static_cast<uint64_t>(flags);
  Napi::Value id = o.Get("id");
  if (id.IsBigInt()) {
    bool lossless;
    q->id = id.As<Napi::BigInt>().Uint64Value(&lossless);
  }
  q->joinUser = o.Get("joinUser").ToBoolean();
  if (!GetStr(o, "path", q->path, q->hasPath) || !GetStr(o, "path2", q->path2, q->hasPath2) || !GetStr(o, "fstype", q->fstype, q->hasFstype) ||
      !GetStr(o, "source", q->source, q->hasSource) || !GetStr(o, "data", q->data, q->hasData))
    return env.Undefined();
  Napi::Value rdev = o.Get("rdev");
  if (rdev.IsArray() && rdev.As<Napi::Array>().Length() == 2) {
    q->devMajor = rdev.As<Napi::Array>().Get(0u).ToNumber().Int64Value();
    q->devMinor = rdev.As<Napi::Array>().Get(1u).ToNumber().Int64Value();
  }
  Napi::Value prot = o.Get("protect");
  if (prot.IsArray() && prot.As<Napi::Array>().Length() == 2) {
    q->hasProtect = true;
    q->protMajor = prot.As<Napi::Array>().Get(0u).ToNumber().Uint32Value();
    q->protMinor = prot.As<Napi::Array>().Get(1u).ToNumber().Uint32Value();
  }
  Napi::Value ov = o.Get("overlays");
  if (ov.IsArray()) {
    Napi::Array a = ov.As<Napi::Array>();
    // Never bind fewer than asked: a file left out would show the real one under the emulated.
    if (a.Length() > kMaxOverlays) {
      Napi::RangeError::New(env, "nsAction: " + std::to_string(a.Length()) + " overlays, at most " + std::to_string(kMaxOverlays)).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Value e = a.Get(i);
      if (!e.IsArray() || e.As<Napi::Array>().Length() != 2) {
        Napi::TypeError::New(env, "nsAction: overlay " + std::to_string(i) + " is not a [source, path] pair").ThrowAsJavaScriptException();
        return env.Undefined();
      }
      q->overlays.emplace_back(e.As<Napi::Array>().Get(0u).ToString().Utf8Value(), e.As<Napi::Array>().Get(1u).ToString().Utf8Value());
    }
  }
  bool needPath = q->op != kFsopen && q->op != kOverlay;
  if (q->op < kMountFs || q->op > kOverlay || (needPath && !q->hasPath) || ((q->op == kBind || q->op == kMove || q->op == kMoveMount) && !q->hasPath2) ||
      ((q->op == kMountFs || q->op == kFsopen) && !q->hasFstype) || q->pid <= 0) {
    Napi::TypeError::New(env, "nsAction: incomplete request for op " + std::to_string(q->op)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (q->op == kOverlay && q->overlays.empty()) {
    Napi::TypeError::New(env, "nsAction: overlay without overlays").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (q->op == kFsopen && q->listener < 0) {
    Napi::TypeError::New(env, "nsAction: fsopen answers a notification with the new fd: listener and id are required").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (q->op == kFsopen && IsProcOrSys(q->fstype.c_str())) {
    Napi::TypeError::New(env, "nsAction: fsopen of " + q->fstype + " is never made for a caller (its mounts need the emulated files: mount(2))").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (q->op == kMknod && !FindSafeDevice(q->devMajor, q->devMinor)) {
    Napi::TypeError::New(env, "nsAction: mknod makes only the safe character devices, not " + std::to_string(q->devMajor) + ":" + std::to_string(q->devMinor))
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return SyscallWorker::Run(
      env, "vnode.nsAction", [q]() { return Run(*q); },
      [](Napi::Env env, const WorkResult& r) -> Napi::Value {
        Napi::Object out = Napi::Object::New(env);
        bool failed = r.call == "fail";
        int err = failed ? static_cast<int>(r.value & 0xffff) : 0;
        int stage = failed ? static_cast<int>(r.value >> 16) : 0;
        out.Set("errno", Napi::Number::New(env, err));
        out.Set("code", Napi::String::New(env, err ? vnode::ErrnoName(err) : ""));
        out.Set("stage", Napi::String::New(env, stage > 0 && stage <= kStOwner ? kStageNames[stage] : ""));
        out.Set("value", Napi::Number::New(env, failed ? 0 : static_cast<double>(r.value)));
        return out;
      });
}

void InitNsAction(Napi::Env env, Napi::Object exports) {
  exports.Set("nsAction", Napi::Function::New(env, NsAction, "nsAction"));
  Napi::Object ops = Napi::Object::New(env);
  ops.Set("mountFs", Napi::Number::New(env, kMountFs));
  ops.Set("bind", Napi::Number::New(env, kBind));
  ops.Set("move", Napi::Number::New(env, kMove));
  ops.Set("umount", Napi::Number::New(env, kUmount));
  ops.Set("mknod", Napi::Number::New(env, kMknod));
  ops.Set("probe", Napi::Number::New(env, kProbe));
  ops.Set("fsopen", Napi::Number::New(env, kFsopen));
  ops.Set("moveMount", Napi::Number::New(env, kMoveMount));
  ops.Set("setattr", Napi::Number::New(env, kSetattr));
  ops.Set("overlay", Napi::Number::New(env, kOverlay));
  exports.Set("nsActionOps", ops);
  Napi::Array safe = Napi::Array::New(env);
  uint32_t i = 0;
  for (const SafeDevice& d : kSafeDevices) {
    Napi::Array e = Napi::Array::New(env, 3);
    e.Set(0u, Napi::Number::New(env, d.major));
    e.Set(1u, Napi::Number::New(env, d.minor));
    e.Set(2u, Napi::String::New(env, d.hostPath));
    safe.Set(i++, e);
  }
  exports.Set("nsActionSafeDevices", safe);
}

}  // namespace

VNODE_REGISTER(InitNsAction);
