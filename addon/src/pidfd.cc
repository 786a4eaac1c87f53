// pidfds: a stable handle on a process (no pid reuse races), another process's fd, signals, and
// reaping through the pidfd. All non-blocking (waitid uses WNOHANG; wait with FdWatcher).
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "syscall_util.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace {

// pidfdOpen(pid, flags) -> pidfd (close-on-exec)
Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t pid, flags = 0;
  if (!vnode::ArgInt(info, 0, "pid", pid)) return env.Undefined();
  if (info.Length() > 1 && !vnode::ArgInt(info, 1, "flags", flags)) return env.Undefined();
  long fd = syscall(SYS_pidfd_open, static_cast<pid_t>(pid), static_cast<unsigned>(flags));
  if (fd < 0) return vnode::ThrowErrno(env, "pidfd_open", errno);
  return Napi::Number::New(env, static_cast<double>(fd));
}

// pidfdGetfd(pidfd, targetFd) -> a duplicate of the target's fd in this process (close-on-exec)
Napi::Value GetFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t pidfd, target;
  if (!vnode::ArgInt(info, 0, "pidfd", pidfd) || !vnode::ArgInt(info, 1, "targetFd", target)) return env.Undefined();
  long fd = syscall(SYS_pidfd_getfd, static_cast<int>(pidfd), static_cast<int>(target), 0u);
  if (fd < 0) return vnode::ThrowErrno(env, "pidfd_getfd", errno);
  return Napi::Number::New(env, static_cast<double>(fd));
}

// pidfdSendSignal(pidfd, signal)
Napi::Value SendSignal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t pidfd, sig;
  if (!vnode::ArgInt(info, 0, "pidfd", pidfd) || !vnode::ArgInt(info, 1, "signal", sig)) return env.Undefined();
  if (syscall(SYS_pidfd_send_signal, static_cast<int>(pidfd), static_cast<int>(sig), nullptr, 0u) != 0)
    return vnode::ThrowErrno(env, "pidfd_send_signal", errno);
  return env.Undefined();
}

// pidfdWait(pidfd) -> null while running, else {pid, code, status} (reaps it: it must be our child)
Napi::Value Wait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t pidfd;
  if (!vnode::ArgInt(info, 0, "pidfd", pidfd)) return env.Undefined();
  siginfo_t si{};
  int r;
  do r = waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &si, WEXITED | WNOHANG);
  while (r < 0 && errno == EINTR);
  if (r < 0) return vnode::ThrowErrno(env, "waitid(P_PIDFD)", errno);
  if (si.si_pid == 0) return env.Null();
  Napi::Object o = Napi::Object::New(env);
  o.Set("pid", Napi::Number::New(env, si.si_pid));
  // si_code: CLD_EXITED (status = exit code) or CLD_KILLED/CLD_DUMPED (status = signal)
  o.Set("exited", Napi::Boolean::New(env, si.si_code == CLD_EXITED));
  o.Set("status", Napi::Number::New(env, si.si_status));
  return o;
}

void InitPidfd(Napi::Env env, Napi::Object exports) {
  exports.Set("pidfdOpen", Napi::Function::New(env, Open, "pidfdOpen"));
  exports.Set("pidfdGetfd", Napi::Function::New(env, GetFd, "pidfdGetfd"));
  exports.Set("pidfdSendSignal", Napi::Function::New(env, SendSignal, "pidfdSendSignal"));
  exports.Set("pidfdWait", Napi::Function::New(env, Wait, "pidfdWait"));
}

}  // namespace

VNODE_REGISTER(InitPidfd);
