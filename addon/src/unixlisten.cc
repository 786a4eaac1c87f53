// A listening unix socket as a bare fd, to hand to a child process (the runc shim daemon takes
// its TTRPC listener as fd 3). Node's net.Server cannot give its fd to a child.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "registry.h"

namespace {

Napi::Value UnixListen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "unixListen(path: string, backlog?: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>();
  int backlog = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 128;
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) return vnode::ThrowErrno(env, "unixListen: path too long", ENAMETOOLONG);
  std::memcpy(sa.sun_path, path.data(), path.size());
  // CLOEXEC: the fd reaches a child only through an explicit stdio slot (dup2 clears the flag).
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return vnode::ThrowErrno(env, "socket", errno);
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    int e = errno;
    close(fd);
    return vnode::ThrowErrno(env, "bind", e);
  }
  if (chmod(path.c_str(), 0600) != 0 || listen(fd, backlog) != 0) {
    int e = errno;
    close(fd);
    unlink(path.c_str());
    return vnode::ThrowErrno(env, "listen", e);
  }
  return Napi::Number::New(env, fd);
}

void InitUnixListen(Napi::Env env, Napi::Object exports) {
  exports.Set("unixListen", Napi::Function::New(env, UnixListen, "unixListen"));
}

}  // namespace

VNODE_REGISTER(InitUnixListen);
