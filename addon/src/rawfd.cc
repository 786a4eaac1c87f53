// close(2) on a descriptor Node's fs module did not open (a seccomp listener received by
// SCM_RIGHTS and served on a worker thread: fs.closeSync there warns about "unmanaged" fds).
#include <unistd.h>

#include "syscall_util.h"

namespace {

Napi::Value RawClose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t fd;
  if (!vnode::ArgInt(info, 0, "fd", fd)) return env.Undefined();
  // No EINTR retry: on Linux the descriptor is released even when close is interrupted.
  if (close(static_cast<int>(fd)) != 0 && errno != EINTR) return vnode::ThrowErrno(env, "close", errno);
  return env.Undefined();
}

void InitRawFd(Napi::Env env, Napi::Object exports) { exports.Set("rawClose", Napi::Function::New(env, RawClose, "rawClose")); }

}  // namespace

VNODE_REGISTER(InitRawFd);
