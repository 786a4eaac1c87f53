// FUSE device and mount syscalls Node lacks: open /dev/fuse, clone a device fd onto the same
// connection (one fd per worker thread), mount(2) of type "fuse" and umount2. Policy (options,
// when to mount, worker count) lives in addon/fuse.ts and agent/vnodefs/.
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <time.h>
#include <linux/fuse.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cstdint>

#include "registry.h"

namespace {

// fuseDevOpen(): fd of a fresh /dev/fuse, close-on-exec.
Napi::Value FuseDevOpen(const Napi::CallbackInfo& info) {
  int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
  if (fd < 0) return vnode::ThrowErrno(info.Env(), "open(/dev/fuse)", errno);
  return Napi::Number::New(info.Env(), fd);
}

// fuseDevClone(sessionFd): a new /dev/fuse fd attached to sessionFd's connection
// (FUSE_DEV_IOC_CLONE), so each worker reads and answers on its own fd.
Napi::Value FuseDevClone(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "fuseDevClone(sessionFd: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  uint32_t session = info[0].As<Napi::Number>().Uint32Value();
  int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
  if (fd < 0) return vnode::ThrowErrno(env, "open(/dev/fuse)", errno);
  if (ioctl(fd, FUSE_DEV_IOC_CLONE, &session) < 0) {
    int err = errno;
    close(fd);
    return vnode::ThrowErrno(env, "ioctl(FUSE_DEV_IOC_CLONE)", err);
  }
  return Napi::Number::New(env, fd);
}

// fuseMount(source, target, flags, data): mount(2) with filesystem type "fuse".
Napi::Value FuseMount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsString() || !info[1].IsString() || !info[2].IsNumber() || !info[3].IsString()) {
    Napi::TypeError::New(env, "fuseMount(source: string, target: string, flags: number, data: string)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string source = info[0].As<Napi::String>();
  std::string target = info[1].As<Napi::String>();
  unsigned long flags = info[2].As<Napi::Number>().Uint32Value();
  std::string data = info[3].As<Napi::String>();
  if (mount(source.c_str(), target.c_str(), "fuse", flags, data.c_str()) < 0) {
    return vnode::ThrowErrno(env, ("mount(fuse, " + target + ")").c_str(), errno);
  }
  return env.Undefined();
}

// fuseUmount(target, flags): umount2(2), e.g. with MNT_DETACH.
Napi::Value FuseUmount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber()) {
    Napi::TypeError::New(env, "fuseUmount(target: string, flags: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string target = info[0].As<Napi::String>();
  if (umount2(target.c_str(), info[1].As<Napi::Number>().Int32Value()) < 0) {
    return vnode::ThrowErrno(env, ("umount2(" + target + ")").c_str(), errno);
  }
  return env.Undefined();
}

// fuseDevClose(fd): close(2) for device fds this addon opened (Node warns when its own fs closes
// an fd it did not open in a worker thread).
Napi::Value FuseDevClose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "fuseDevClose(fd: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (close(info[0].As<Napi::Number>().Int32Value()) < 0) return vnode::ThrowErrno(env, "close(/dev/fuse)", errno);
  return env.Undefined();
}

static int64_t NowNs() {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return int64_t(t.tv_sec) * 1000000000 + t.tv_nsec;
}

// A sched_yield that returns after this long let another thread run: the CPU is contended.
constexpr int64_t kContendedYieldNs = 10000;

// fuseDevRead(fd, buffer, spinNs[, timeoutMs]): one request from a /dev/fuse fd into buffer; returns its
// length, or -1 when timeoutMs (>= 0) passed without one. Meant for worker threads (it blocks the calling thread). With spinNs > 0 the fd must
// be O_NONBLOCK: it polls for up to spinNs (yielding the CPU between tries) before sleeping in
// a blocking read, so a request that follows closely on the last one (a reader's OPEN, READ, READ) finds
// the worker awake instead of paying a cross-CPU wake-up. It stops polling early when a yield
// shows the CPU is wanted by others (on a busy node spinning slowed readers down). Throws with
// errno (ENODEV once the filesystem is gone).
Napi::Value FuseDevRead(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsBuffer() || !info[2].IsNumber()) {
    Napi::TypeError::New(env, "fuseDevRead(fd: number, buffer: Buffer, spinNs: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  auto buf = info[1].As<Napi::Buffer<uint8_t>>();
  int64_t spin = info[2].As<Napi::Number>().Int64Value();
  // timeoutMs >= 0: return -1 when no request came within it (a worker with deferred work).
  int64_t timeoutMs = info.Length() > 3 && info[3].IsNumber() ? info[3].As<Napi::Number>().Int64Value() : -1;
  int64_t deadline = spin > 0 ? NowNs() + spin : 0;
  for (;;) {
    // A blocking fd with a deadline never reads before poll says there is a request.
    ssize_t n = -1;
    int err = EAGAIN;
    if (timeoutMs < 0 || spin > 0) {
      n = read(fd, buf.Data(), buf.Length());
      if (n >= 0) return Napi::Number::New(env, double(n));
      err = errno;
    }
    if (err == EINTR) continue;
    if (err != EAGAIN) return vnode::ThrowErrno(env, "read(/dev/fuse)", err);
    if (spin > 0 && NowNs() < deadline) {
      int64_t t0 = NowNs();
      sched_yield();
      // Something else ran during the yield: the CPU is contended, and spinning on would take
      // time from other work (on a busy node, often the very reader we wait for). Sleep instead.
      if (NowNs() - t0 > kContendedYieldNs) deadline = 0;
      continue;
    }
    if (timeoutMs >= 0) {
      // With a deadline: poll, then one non-blocking try (another worker may have taken it).
      struct pollfd p = {fd, POLLIN, 0};
      int r = poll(&p, 1, int(timeoutMs));
      if (r < 0 && errno != EINTR) return vnode::ThrowErrno(env, "poll(/dev/fuse)", errno);
      if (r <= 0) return Napi::Number::New(env, -1);
      int fl = fcntl(fd, F_GETFL);
      if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return vnode::ThrowErrno(env, "fcntl(/dev/fuse)", errno);
      n = read(fd, buf.Data(), buf.Length());
      err = errno;
      if (fcntl(fd, F_SETFL, fl) < 0) return vnode::ThrowErrno(env, "fcntl(/dev/fuse)", errno);
      if (n >= 0) return Napi::Number::New(env, double(n));
      if (err == EAGAIN || err == EINTR) return Napi::Number::New(env, -1);
      return vnode::ThrowErrno(env, "read(/dev/fuse)", err);
    }
    // Sleep in a blocking read, not poll(2): the device wakes one blocked reader per request,
    // while poll wakes every worker (and the requesting process pays for each wake-up).
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) return vnode::ThrowErrno(env, "fcntl(/dev/fuse)", errno);
    n = read(fd, buf.Data(), buf.Length());
    err = errno;
    if (fcntl(fd, F_SETFL, fl) < 0) return vnode::ThrowErrno(env, "fcntl(/dev/fuse)", errno);
    if (n >= 0) return Napi::Number::New(env, double(n));
    if (err != EINTR && err != EAGAIN) return vnode::ThrowErrno(env, "read(/dev/fuse)", err);
    if (spin > 0) deadline = NowNs() + spin;
  }
}

// fuseDevSetNonblock(fd): sets O_NONBLOCK (for fuseDevRead's polling).
Napi::Value FuseDevSetNonblock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "fuseDevSetNonblock(fd: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return vnode::ThrowErrno(env, "fcntl(O_NONBLOCK)", errno);
  return env.Undefined();
}

void InitFuse(Napi::Env env, Napi::Object exports) {
  exports.Set("fuseDevOpen", Napi::Function::New(env, FuseDevOpen, "fuseDevOpen"));
  exports.Set("fuseDevClone", Napi::Function::New(env, FuseDevClone, "fuseDevClone"));
  exports.Set("fuseDevClose", Napi::Function::New(env, FuseDevClose, "fuseDevClose"));
  exports.Set("fuseDevRead", Napi::Function::New(env, FuseDevRead, "fuseDevRead"));
  exports.Set("fuseDevSetNonblock", Napi::Function::New(env, FuseDevSetNonblock, "fuseDevSetNonblock"));
  exports.Set("fuseMount", Napi::Function::New(env, FuseMount, "fuseMount"));
  exports.Set("fuseUmount", Napi::Function::New(env, FuseUmount, "fuseUmount"));
  exports.Set("MS_NOSUID", Napi::Number::New(env, MS_NOSUID));
  exports.Set("MS_NODEV", Napi::Number::New(env, MS_NODEV));
  exports.Set("MNT_DETACH", Napi::Number::New(env, MNT_DETACH));
}

}  // namespace

VNODE_REGISTER(InitFuse);
