// process_vm_readv / process_vm_writev: read and write another process's memory (the seccomp
// handlers read syscall arguments this way). A few microseconds each; no blocking.
#include <sys/uio.h>

#include <vector>

#include "syscall_util.h"

namespace {

// processVmRead(pid, addr: bigint, length) -> Buffer (shorter than length when the range ends in
// an unmapped page)
Napi::Value Read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t pid, len;
  uint64_t addr;
  if (!vnode::ArgInt(info, 0, "pid", pid) || !vnode::ArgU64(info, 1, "addr", addr) || !vnode::ArgInt(info, 2, "length", len)) return env.Undefined();
  if (len < 0 || len > (64 << 20)) {
    Napi::RangeError::New(env, "length must be 0..64MiB").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::vector<char> buf(static_cast<size_t>(len));
  iovec local{buf.data(), buf.size()};
  iovec remote{reinterpret_cast<void*>(addr), buf.size()};
  ssize_t n = len ? process_vm_readv(static_cast<pid_t>(pid), &local, 1, &remote, 1, 0) : 0;
  if (n < 0) return vnode::ThrowErrno(env, "process_vm_readv", errno);
  return Napi::Buffer<char>::Copy(env, buf.data(), static_cast<size_t>(n));
}

// processVmWrite(pid, addr: bigint, data: Buffer) -> bytes written
Napi::Value Write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t pid;
  uint64_t addr;
  if (!vnode::ArgInt(info, 0, "pid", pid) || !vnode::ArgU64(info, 1, "addr", addr)) return env.Undefined();
  if (info.Length() < 3 || !info[2].IsBuffer()) {
    Napi::TypeError::New(env, "data must be a Buffer").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Buffer<char> b = info[2].As<Napi::Buffer<char>>();
  iovec local{b.Data(), b.Length()};
  iovec remote{reinterpret_cast<void*>(addr), b.Length()};
  ssize_t n = b.Length() ? process_vm_writev(static_cast<pid_t>(pid), &local, 1, &remote, 1, 0) : 0;
  if (n < 0) return vnode::ThrowErrno(env, "process_vm_writev", errno);
  return Napi::Number::New(env, static_cast<double>(n));
}

void InitProcMem(Napi::Env env, Napi::Object exports) {
  exports.Set("processVmRead", Napi::Function::New(env, Read, "processVmRead"));
  exports.Set("processVmWrite", Napi::Function::New(env, Write, "processVmWrite"));
}

}  // namespace

VNODE_REGISTER(InitProcMem);
