// mknod(2) of a device node: Node's fs has none. The policy (which devices, where, whose) is the
// TypeScript side's (agent/pods/DeviceNodes.ts); this only makes the node.
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "syscall_util.h"

namespace {

// mknodDevice(path, type "c"|"b", mode (permission bits), major, minor)
Napi::Value MknodDevice(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path, type;
  int64_t mode, major, minor;
  if (!vnode::ArgStr(info, 0, "path", path) || !vnode::ArgStr(info, 1, "type", type) || !vnode::ArgInt(info, 2, "mode", mode) ||
      !vnode::ArgInt(info, 3, "major", major) || !vnode::ArgInt(info, 4, "minor", minor))
    return env.Undefined();
  if (type != "c" && type != "b") {
    Napi::TypeError::New(env, "type must be \"c\" or \"b\"").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (mode < 0 || mode > 07777 || major < 0 || major > 0xfff || minor < 0 || minor > 0xfffff) {
    Napi::RangeError::New(env, "mode, major or minor out of range").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const mode_t kind = type == "c" ? S_IFCHR : S_IFBLK;
  if (mknod(path.c_str(), kind | static_cast<mode_t>(mode), makedev(static_cast<unsigned>(major), static_cast<unsigned>(minor))) != 0)
    return vnode::ThrowErrno(env, "mknod", errno);
  return env.Undefined();
}

void InitDevNode(Napi::Env env, Napi::Object exports) { exports.Set("mknodDevice", Napi::Function::New(env, MknodDevice, "mknodDevice")); }

}  // namespace

VNODE_REGISTER(InitDevNode);
