// Unix stream sockets that carry fds (SCM_RIGHTS), which Node's net module drops. All calls are
// non-blocking: the TypeScript side waits for readiness with FdWatcher.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <vector>

#include "syscall_util.h"

namespace {

bool FillAddr(Napi::Env env, const std::string& path, sockaddr_un& sa) {
  sa = {};
  sa.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof sa.sun_path) {
    Napi::RangeError::New(env, "unix socket path is empty or longer than 107 bytes: " + path).ThrowAsJavaScriptException();
    return false;
  }
  memcpy(sa.sun_path, path.data(), path.size());
  return true;
}

// fdsocketListen(path, backlog) -> fd (non-blocking, close-on-exec)
Napi::Value UnixListen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path;
  int64_t backlog = 128;
  if (!vnode::ArgStr(info, 0, "path", path)) return env.Undefined();
  if (info.Length() > 1 && !vnode::ArgInt(info, 1, "backlog", backlog)) return env.Undefined();
  sockaddr_un sa;
  if (!FillAddr(env, path, sa)) return env.Undefined();
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return vnode::ThrowErrno(env, "socket", errno);
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    int e = errno;
    close(fd);
    return vnode::ThrowErrno(env, "bind", e);
  }
  if (listen(fd, static_cast<int>(backlog)) != 0) {
    int e = errno;
    close(fd);
    return vnode::ThrowErrno(env, "listen", e);
  }
  return Napi::Number::New(env, fd);
}

// fdsocketConnect(path, seqpacket = false) -> fd (non-blocking, close-on-exec). Unix connects
// complete at once or fail.
Napi::Value UnixConnect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path;
  if (!vnode::ArgStr(info, 0, "path", path)) return env.Undefined();
  bool seqpacket = info.Length() > 1 && info[1].IsBoolean() && info[1].As<Napi::Boolean>().Value();
  sockaddr_un sa;
  if (!FillAddr(env, path, sa)) return env.Undefined();
  int fd = socket(AF_UNIX, (seqpacket ? SOCK_SEQPACKET : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return vnode::ThrowErrno(env, "socket", errno);
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    int e = errno;
    close(fd);
    return vnode::ThrowErrno(env, "connect", e);
  }
  return Napi::Number::New(env, fd);
}

// fdsocketAccept(listenFd) -> fd | null (null: nothing pending)
Napi::Value AcceptFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t lfd;
  if (!vnode::ArgInt(info, 0, "fd", lfd)) return env.Undefined();
  for (;;) {
    int fd = accept4(static_cast<int>(lfd), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) return Napi::Number::New(env, fd);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == ECONNABORTED) return env.Null();
    return vnode::ThrowErrno(env, "accept4", errno);
  }
}

// fdsocketRecv(fd, maxBytes, maxFds) -> {data: Buffer, fds: number[], truncated: boolean} | null.
// data.length 0 with no fds means the peer closed. Received fds are close-on-exec.
Napi::Value RecvFds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t fd, maxBytes, maxFds;
  if (!vnode::ArgInt(info, 0, "fd", fd) || !vnode::ArgInt(info, 1, "maxBytes", maxBytes) || !vnode::ArgInt(info, 2, "maxFds", maxFds))
    return env.Undefined();
  if (maxBytes <= 0 || maxBytes > (64 << 20) || maxFds < 0 || maxFds > 253) {
    Napi::RangeError::New(env, "maxBytes must be 1..64MiB and maxFds 0..253").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::vector<char> data(static_cast<size_t>(maxBytes));
  std::vector<char> control(CMSG_SPACE(sizeof(int) * static_cast<size_t>(maxFds ? maxFds : 1)));
  iovec iov{data.data(), data.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  ssize_t n;
  do n = recvmsg(static_cast<int>(fd), &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN) return env.Null();
    return vnode::ThrowErrno(env, "recvmsg", errno);
  }
  Napi::Array fds = Napi::Array::New(env);
  uint32_t k = 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    const int* p = reinterpret_cast<const int*>(CMSG_DATA(c));
    for (size_t i = 0; i < count; i++) {
      int v;
      memcpy(&v, p + i, sizeof v);
      fds.Set(k++, Napi::Number::New(env, v));
    }
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("data", Napi::Buffer<char>::Copy(env, data.data(), static_cast<size_t>(n)));
  out.Set("fds", fds);
  out.Set("truncated", Napi::Boolean::New(env, (msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) != 0));
  return out;
}

// fdsocketSend(fd, data: Buffer, fds: number[]) -> bytes sent (throws EAGAIN when the socket is full)
Napi::Value SendFds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t fd;
  if (!vnode::ArgInt(info, 0, "fd", fd)) return env.Undefined();
  if (info.Length() < 3 || !info[1].IsBuffer() || !info[2].IsArray()) {
    Napi::TypeError::New(env, "sendFds(fd, Buffer, number[])").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Buffer<char> buf = info[1].As<Napi::Buffer<char>>();
  Napi::Array arr = info[2].As<Napi::Array>();
  std::vector<int> fds;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value v = arr.Get(i);
    if (!v.IsNumber()) {
      Napi::TypeError::New(env, "fds must be numbers").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    fds.push_back(v.As<Napi::Number>().Int32Value());
  }
  char dummy = 0;
  iovec iov{buf.Length() ? buf.Data() : &dummy, buf.Length() ? buf.Length() : 1};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<char> control;
  if (!fds.empty()) {
    control.resize(CMSG_SPACE(sizeof(int) * fds.size()));
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  ssize_t n;
  do n = sendmsg(static_cast<int>(fd), &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n < 0) return vnode::ThrowErrno(env, "sendmsg", errno);
  return Napi::Number::New(env, static_cast<double>(n));
}

// fdsocketPeerCred(fd) -> {pid, uid, gid} of the connected peer (SO_PEERCRED)
Napi::Value PeerCred(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t fd;
  if (!vnode::ArgInt(info, 0, "fd", fd)) return env.Undefined();
  ucred cr{};
  socklen_t len = sizeof cr;
  if (getsockopt(static_cast<int>(fd), SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0) return vnode::ThrowErrno(env, "getsockopt(SO_PEERCRED)", errno);
  Napi::Object o = Napi::Object::New(env);
  o.Set("pid", Napi::Number::New(env, cr.pid));
  o.Set("uid", Napi::Number::New(env, cr.uid));
  o.Set("gid", Napi::Number::New(env, cr.gid));
  return o;
}

// fdsocketPoll(fd, events, timeoutMs) -> revents (0: timed out). Blocks the calling thread: for
// short exchanges with a local peer that answers at once (the fd keeper).
Napi::Value PollFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t fd, events, timeoutMs;
  if (!vnode::ArgInt(info, 0, "fd", fd) || !vnode::ArgInt(info, 1, "events", events) || !vnode::ArgInt(info, 2, "timeoutMs", timeoutMs))
    return env.Undefined();
  pollfd p{static_cast<int>(fd), static_cast<short>(events), 0};
  int r;
  do r = poll(&p, 1, static_cast<int>(timeoutMs));
  while (r < 0 && errno == EINTR);
  if (r < 0) return vnode::ThrowErrno(env, "poll", errno);
  return Napi::Number::New(env, r == 0 ? 0 : p.revents);
}

void InitFdSocket(Napi::Env env, Napi::Object exports) {
  exports.Set("fdsocketListen", Napi::Function::New(env, UnixListen, "fdsocketListen"));
  exports.Set("fdsocketConnect", Napi::Function::New(env, UnixConnect, "fdsocketConnect"));
  exports.Set("fdsocketAccept", Napi::Function::New(env, AcceptFd, "fdsocketAccept"));
  exports.Set("fdsocketRecv", Napi::Function::New(env, RecvFds, "fdsocketRecv"));
  exports.Set("fdsocketSend", Napi::Function::New(env, SendFds, "fdsocketSend"));
  exports.Set("fdsocketPoll", Napi::Function::New(env, PollFd, "fdsocketPoll"));
  exports.Set("fdsocketPeerCred", Napi::Function::New(env, PeerCred, "fdsocketPeerCred"));
}

}  // namespace

VNODE_REGISTER(InitFdSocket);
