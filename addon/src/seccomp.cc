// seccomp user-notification ioctls on a listener fd. RECV is only called when poll says a
// notification is pending, so it never blocks: checked here with a zero-timeout poll, or by the
// caller's own epoll readiness (knownReady). The kernel counts pending notifications in a
// semaphore that RECV takes: one seen pending keeps it taken-able even if its caller dies before
// the RECV (which then answers ENOENT instead of waiting).
#include <linux/seccomp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "syscall_util.h"

// Kernel 6.6+; Debian 12's 6.1 headers lack these.
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

namespace {

// seccompRecv(fd, knownReady, out) -> true with the notification in `out`, false when none is
// pending (or its caller went away). knownReady: the caller's epoll reported this fd readable
// (POLLIN) and nobody else receives from it since, so the poll is skipped. out: a BigUint64Array
// of RECV_WORDS: id, pid, flags, nr, arch, instruction pointer, args[6] (no object is built here:
// a trapped call's round trip is a few microseconds, and building one was a fifth of it).
constexpr size_t RECV_WORDS = 12;
Napi::Value Recv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t fd;
  if (!vnode::ArgInt(info, 0, "fd", fd)) return env.Undefined();
  bool knownReady = info.Length() > 1 && info[1].IsBoolean() && info[1].As<Napi::Boolean>().Value();
  if (info.Length() < 3 || !info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_biguint64_array ||
      info[2].As<Napi::TypedArray>().ElementLength() < RECV_WORDS) {
    Napi::TypeError::New(env, "out must be a BigUint64Array of 12 words").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto out = info[2].As<Napi::TypedArrayOf<uint64_t>>();
  if (!knownReady) {
    pollfd p{static_cast<int>(fd), POLLIN, 0};
    int pr;
    do pr = poll(&p, 1, 0);
    while (pr < 0 && errno == EINTR);
    if (pr < 0) return vnode::ThrowErrno(env, "poll", errno);
    if (pr == 0) return Napi::Boolean::New(env, false);
    if (p.revents & (POLLHUP | POLLERR | POLLNVAL) && !(p.revents & POLLIN)) return Napi::Boolean::New(env, false);
  }
  seccomp_notif n;
  memset(&n, 0, sizeof n);  // the kernel insists on a zeroed buffer
  if (vnode::IoctlRetry(static_cast<int>(fd), SECCOMP_IOCTL_NOTIF_RECV, &n) != 0) {
    if (errno == ENOENT) return Napi::Boolean::New(env, false);
    return vnode::ThrowErrno(env, "ioctl(SECCOMP_IOCTL_NOTIF_RECV)", errno);
  }
  uint64_t* w = out.Data();
  w[0] = n.id;
  w[1] = static_cast<uint32_t>(n.pid);
  w[2] = n.flags;
  w[3] = static_cast<uint32_t>(n.data.nr);
  w[4] = n.data.arch;
  w[5] = n.data.instruction_pointer;
  for (size_t i = 0; i < 6; i++) w[6 + i] = n.data.args[i];
  return Napi::Boolean::New(env, true);
}

// seccompSend(fd, id, val, error, flags) -> true, or false when the notification is no longer valid
Napi::Value Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t fd, error, flags;
  uint64_t id;
  if (!vnode::ArgInt(info, 0, "fd", fd) || !vnode::ArgU64(info, 1, "id", id)) return env.Undefined();
  int64_t val = 0;
  if (info.Length() > 2 && info[2].IsBigInt()) {
    bool lossless;
    val = info[2].As<Napi::BigInt>().Int64Value(&lossless);
  } else if (!vnode::ArgInt(info, 2, "val", val)) {
    return env.Undefined();
  }
  if (!vnode::ArgInt(info, 3, "error", error) || !vnode::ArgInt(info, 4, "flags", flags)) return env.Undefined();
  seccomp_notif_resp r;
  memset(&r, 0, sizeof r);
  r.id = id;
  r.val = val;
  r.error = static_cast<__s32>(error);
  r.flags = static_cast<__u32>(flags);
  if (vnode::IoctlRetry(static_cast<int>(fd), SECCOMP_IOCTL_NOTIF_SEND, &r) != 0) {
    if (errno == ENOENT) return Napi::Boolean::New(env, false);
    return vnode::ThrowErrno(env, "ioctl(SECCOMP_IOCTL_NOTIF_SEND)", errno);
  }
  return Napi::Boolean::New(env, true);
}

// seccompIdValid(fd, id) -> boolean
Napi::Value IdValid(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t fd;
  uint64_t id;
  if (!vnode::ArgInt(info, 0, "fd", fd) || !vnode::ArgU64(info, 1, "id", id)) return env.Undefined();
  __u64 v = id;
  if (vnode::IoctlRetry(static_cast<int>(fd), SECCOMP_IOCTL_NOTIF_ID_VALID, &v) != 0) {
    if (errno == ENOENT) return Napi::Boolean::New(env, false);
    return vnode::ThrowErrno(env, "ioctl(SECCOMP_IOCTL_NOTIF_ID_VALID)", errno);
  }
  return Napi::Boolean::New(env, true);
}

// seccompAddFd(fd, id, srcFd, newFd, newFdFlags, flags) -> the fd number in the target
Napi::Value AddFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t fd, srcfd, newfd, newfdFlags, flags;
  uint64_t id;
  if (!vnode::ArgInt(info, 0, "fd", fd) || !vnode::ArgU64(info, 1, "id", id) || !vnode::ArgInt(info, 2, "srcFd", srcfd) ||
      !vnode::ArgInt(info, 3, "newFd", newfd) || !vnode::ArgInt(info, 4, "newFdFlags", newfdFlags) || !vnode::ArgInt(info, 5, "flags", flags))
    return env.Undefined();
  seccomp_notif_addfd a;
  memset(&a, 0, sizeof a);
  a.id = id;
  a.flags = static_cast<__u32>(flags);
  a.srcfd = static_cast<__u32>(srcfd);
  a.newfd = static_cast<__u32>(newfd);
  a.newfd_flags = static_cast<__u32>(newfdFlags);
  int r = vnode::IoctlRetry(static_cast<int>(fd), SECCOMP_IOCTL_NOTIF_ADDFD, &a);
  if (r < 0) return vnode::ThrowErrno(env, "ioctl(SECCOMP_IOCTL_NOTIF_ADDFD)", errno);
  return Napi::Number::New(env, r);
}

// seccompSetFlags(fd, flags): throws EINVAL on kernels without the flag.
Napi::Value SetFlags(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t fd, flags;
  if (!vnode::ArgInt(info, 0, "fd", fd) || !vnode::ArgInt(info, 1, "flags", flags)) return env.Undefined();
  // The flags travel as the ioctl argument itself, not through a pointer.
  int r;
  do r = ioctl(static_cast<int>(fd), SECCOMP_IOCTL_NOTIF_SET_FLAGS, static_cast<unsigned long>(flags));
  while (r < 0 && errno == EINTR);
  if (r < 0) return vnode::ThrowErrno(env, "ioctl(SECCOMP_IOCTL_NOTIF_SET_FLAGS)", errno);
  return env.Undefined();
}

// seccompNotifSizes() -> the kernel's struct sizes, to check this build matches the kernel.
Napi::Value NotifSizes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  seccomp_notif_sizes s{};
  if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &s) != 0) return vnode::ThrowErrno(env, "seccomp(SECCOMP_GET_NOTIF_SIZES)", errno);
  Napi::Object o = Napi::Object::New(env);
  o.Set("notif", Napi::Number::New(env, s.seccomp_notif));
  o.Set("resp", Napi::Number::New(env, s.seccomp_notif_resp));
  o.Set("data", Napi::Number::New(env, s.seccomp_data));
  o.Set("builtNotif", Napi::Number::New(env, sizeof(seccomp_notif)));
  o.Set("builtResp", Napi::Number::New(env, sizeof(seccomp_notif_resp)));
  o.Set("builtData", Napi::Number::New(env, sizeof(seccomp_data)));
  return o;
}

void InitSeccomp(Napi::Env env, Napi::Object exports) {
  exports.Set("seccompRecv", Napi::Function::New(env, Recv, "seccompRecv"));
  exports.Set("seccompSend", Napi::Function::New(env, Send, "seccompSend"));
  exports.Set("seccompIdValid", Napi::Function::New(env, IdValid, "seccompIdValid"));
  exports.Set("seccompAddFd", Napi::Function::New(env, AddFd, "seccompAddFd"));
  exports.Set("seccompSetFlags", Napi::Function::New(env, SetFlags, "seccompSetFlags"));
  exports.Set("seccompNotifSizes", Napi::Function::New(env, NotifSizes, "seccompNotifSizes"));
  Napi::Object c = Napi::Object::New(env);
  c.Set("SECCOMP_USER_NOTIF_FLAG_CONTINUE", Napi::Number::New(env, SECCOMP_USER_NOTIF_FLAG_CONTINUE));
  c.Set("SECCOMP_ADDFD_FLAG_SETFD", Napi::Number::New(env, SECCOMP_ADDFD_FLAG_SETFD));
  c.Set("SECCOMP_ADDFD_FLAG_SEND", Napi::Number::New(env, SECCOMP_ADDFD_FLAG_SEND));
  c.Set("SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP", Napi::Number::New(env, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP));
  exports.Set("seccompConstants", c);
}

}  // namespace

VNODE_REGISTER(InitSeccomp);
