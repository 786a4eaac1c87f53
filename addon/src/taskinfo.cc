// The host's answers to two syscalls whose container answers the seccomp handlers compute from
// them: sysinfo(2) (loads, process count, uptime) and sched_getaffinity(2) of another task.
#include <sched.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <vector>

#include "syscall_util.h"

namespace {

// sysinfo() -> { uptime, loads: [3], totalram, freeram, sharedram, bufferram, totalswap, freeswap, procs, memUnit }
Napi::Value Sysinfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct sysinfo s;
  if (sysinfo(&s) != 0) return vnode::ThrowErrno(env, "sysinfo", errno);
  Napi::Object o = Napi::Object::New(env);
  o.Set("uptime", Napi::Number::New(env, static_cast<double>(s.uptime)));
  Napi::Array loads = Napi::Array::New(env, 3);
  for (uint32_t i = 0; i < 3; i++) loads.Set(i, Napi::Number::New(env, static_cast<double>(s.loads[i])));
  o.Set("loads", loads);
  o.Set("totalram", Napi::Number::New(env, static_cast<double>(s.totalram)));
  o.Set("freeram", Napi::Number::New(env, static_cast<double>(s.freeram)));
  o.Set("sharedram", Napi::Number::New(env, static_cast<double>(s.sharedram)));
  o.Set("bufferram", Napi::Number::New(env, static_cast<double>(s.bufferram)));
  o.Set("totalswap", Napi::Number::New(env, static_cast<double>(s.totalswap)));
  o.Set("freeswap", Napi::Number::New(env, static_cast<double>(s.freeswap)));
  o.Set("procs", Napi::Number::New(env, s.procs));
  o.Set("memUnit", Napi::Number::New(env, s.mem_unit));
  return o;
}

// schedGetaffinity(tid, bytes) -> Buffer of the kernel's answer (its length is what the syscall
// returned: min(bytes, the kernel's cpumask size)). Throws with errno (EINVAL, ESRCH, ...).
Napi::Value SchedGetaffinity(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t tid, bytes;
  if (!vnode::ArgInt(info, 0, "tid", tid) || !vnode::ArgInt(info, 1, "bytes", bytes)) return env.Undefined();
  if (bytes < 0 || bytes > (1 << 16)) return vnode::ThrowErrno(env, "sched_getaffinity", EINVAL);
  std::vector<unsigned char> buf(static_cast<size_t>(bytes));
  long r = syscall(SYS_sched_getaffinity, static_cast<pid_t>(tid), static_cast<size_t>(bytes), buf.data());
  if (r < 0) return vnode::ThrowErrno(env, "sched_getaffinity", errno);
  return Napi::Buffer<unsigned char>::Copy(env, buf.data(), static_cast<size_t>(r));
}

void InitTaskinfo(Napi::Env env, Napi::Object exports) {
  exports.Set("sysinfo", Napi::Function::New(env, Sysinfo, "sysinfo"));
  exports.Set("schedGetaffinity", Napi::Function::New(env, SchedGetaffinity, "schedGetaffinity"));
}

}  // namespace

VNODE_REGISTER(InitTaskinfo);
