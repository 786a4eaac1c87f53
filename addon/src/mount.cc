// The mount API: mount, umount2, open_tree, move_mount, mount_setattr (incl. MOUNT_ATTR_IDMAP).
// Each returns a promise and runs on the thread pool: a mount or unmount can wait on a FUSE
// server or a busy filesystem, and that must not stall the event loop.
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <linux/mount.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "mount_abi.h"
#include "syscall_util.h"

namespace {

using vnode::SyscallWorker;
using vnode::WorkResult;

WorkResult Done(long r, const char* call) {
  if (r < 0) return WorkResult::Fail(call, errno);
  WorkResult w;
  w.value = r;
  return w;
}

// mount(source|null, target, fstype|null, flags, data|null)
Napi::Value Mount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::optional<std::string> source, fstype, data;
  std::string target;
  int64_t flags;
  if (!vnode::ArgOptStr(info, 0, "source", source) || !vnode::ArgStr(info, 1, "target", target) || !vnode::ArgOptStr(info, 2, "fstype", fstype) ||
      !vnode::ArgInt(info, 3, "flags", flags) || !vnode::ArgOptStr(info, 4, "data", data))
    return env.Undefined();
  return SyscallWorker::Run(env, "vnode.mount", [=]() {
    long r = mount(source ? source->c_str() : nullptr, target.c_str(), fstype ? fstype->c_str() : nullptr, static_cast<unsigned long>(flags),
                   data ? data->c_str() : nullptr);
    return Done(r, "mount");
  });
}

// umount2(target, flags)
Napi::Value Umount2(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string target;
  int64_t flags = 0;
  if (!vnode::ArgStr(info, 0, "target", target)) return env.Undefined();
  if (info.Length() > 1 && !vnode::ArgInt(info, 1, "flags", flags)) return env.Undefined();
  return SyscallWorker::Run(env, "vnode.umount2", [=]() { return Done(umount2(target.c_str(), static_cast<int>(flags)), "umount2"); });
}

// openTree(dirfd, path, flags) -> fd (a detached mount when OPEN_TREE_CLONE)
Napi::Value OpenTree(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t dfd, flags;
  std::string path;
  if (!vnode::ArgInt(info, 0, "dirfd", dfd) || !vnode::ArgStr(info, 1, "path", path) || !vnode::ArgInt(info, 2, "flags", flags)) return env.Undefined();
  return SyscallWorker::Run(env, "vnode.openTree", [=]() {
    return Done(syscall(SYS_open_tree, static_cast<int>(dfd), path.c_str(), static_cast<unsigned>(flags)), "open_tree");
  });
}

// moveMount(fromDirfd, fromPath, toDirfd, toPath, flags)
Napi::Value MoveMount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t fromDfd, toDfd, flags;
  std::string fromPath, toPath;
  if (!vnode::ArgInt(info, 0, "fromDirfd", fromDfd) || !vnode::ArgStr(info, 1, "fromPath", fromPath) || !vnode::ArgInt(info, 2, "toDirfd", toDfd) ||
      !vnode::ArgStr(info, 3, "toPath", toPath) || !vnode::ArgInt(info, 4, "flags", flags))
    return env.Undefined();
  return SyscallWorker::Run(env, "vnode.moveMount", [=]() {
    return Done(syscall(SYS_move_mount, static_cast<int>(fromDfd), fromPath.c_str(), static_cast<int>(toDfd), toPath.c_str(), static_cast<unsigned>(flags)),
                "move_mount");
  });
}

// mountSetattr(dirfd, path, flags, {attrSet, attrClr, propagation, usernsFd})
Napi::Value MountSetattr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t dfd, flags;
  std::string path;
  if (!vnode::ArgInt(info, 0, "dirfd", dfd) || !vnode::ArgStr(info, 1, "path", path) || !vnode::ArgInt(info, 2, "flags", flags)) return env.Undefined();
  if (info.Length() < 4 || !info[3].IsObject()) {
    Napi::TypeError::New(env, "attr must be an object").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object a = info[3].As<Napi::Object>();
  auto num = [&](const char* k) -> uint64_t {
    Napi::Value v = a.Get(k);
    return v.IsNumber() ? static_cast<uint64_t>(v.As<Napi::Number>().Int64Value()) : 0;
  };
  mount_attr attr{};
  attr.attr_set = num("attrSet");
  attr.attr_clr = num("attrClr");
  attr.propagation = num("propagation");
  attr.userns_fd = num("usernsFd");
  return SyscallWorker::Run(env, "vnode.mountSetattr", [=]() {
    mount_attr at = attr;
    return Done(syscall(SYS_mount_setattr, static_cast<int>(dfd), path.c_str(), static_cast<unsigned>(flags), &at, sizeof at), "mount_setattr");
  });
}

// An overlay mount whose data names its layers relative to `cwd`: mount(2) reads its options
// from one page (4095 bytes), and a long image's layer paths do not fit there. The relative paths
// resolve against the calling thread's working directory, which its process shares, so the mount
// runs on a thread of its own that first unshares it (CLONE_FS; containerd forks for the same).
struct RelativeOverlay {
  const std::string* cwd;
  const std::string* target;
  unsigned long flags;
  const std::string* data;
  int err = 0;
  const char* call = nullptr;
};

static void* RelativeOverlayThread(void* arg) {
  auto* r = static_cast<RelativeOverlay*>(arg);
  if (unshare(CLONE_FS) != 0) {
    r->err = errno;
    r->call = "unshare";
  } else if (chdir(r->cwd->c_str()) != 0) {
    r->err = errno;
    r->call = "chdir";
  } else if (mount("overlay", r->target->c_str(), "overlay", r->flags, r->data->c_str()) != 0) {
    r->err = errno;
    r->call = "mount";
  }
  return nullptr;
}

// idmapOverlay(lowers: string[], binds: string[], usernsFd, target, unmountFirst, flags, data, dataCwd?) -> 0
// A container's rootfs in one trip to the thread pool (each trip cost 0.1-1 ms while runc and
// containerd kept both CPUs busy, and this took 3 per layer and 1-2 more): every lower layer
// bound, idmapped by the user namespace usernsFd, at its bind path (open_tree(CLONE),
// mount_setattr(IDMAP), move_mount), then, with unmountFirst, the target unmounted, then the
// overlay (`data` naming the binds) mounted at target; with dataCwd, `data` names them relative
// to that directory (RelativeOverlay). Rejects with the failing call and path; the binds made
// before it stay for the caller to detach.
Napi::Value IdmapOverlay(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto strings = [&](size_t i, const char* what, std::vector<std::string>& out) -> bool {
    if (info.Length() <= i || !info[i].IsArray()) {
      Napi::TypeError::New(env, std::string(what) + " must be an array of strings").ThrowAsJavaScriptException();
      return false;
    }
    Napi::Array a = info[i].As<Napi::Array>();
    for (uint32_t k = 0; k < a.Length(); k++) {
      Napi::Value v = a.Get(k);
      if (!v.IsString()) {
        Napi::TypeError::New(env, std::string(what) + " must be an array of strings").ThrowAsJavaScriptException();
        return false;
      }
      out.push_back(v.As<Napi::String>().Utf8Value());
    }
    return true;
  };
  std::vector<std::string> lowers, binds;
  int64_t usernsFd, flags;
  std::string target, data;
  if (!strings(0, "lowers", lowers) || !strings(1, "binds", binds) || !vnode::ArgInt(info, 2, "usernsFd", usernsFd) || !vnode::ArgStr(info, 3, "target", target))
    return env.Undefined();
  bool unmountFirst = info.Length() > 4 && info[4].ToBoolean().Value();
  if (!vnode::ArgInt(info, 5, "flags", flags) || !vnode::ArgStr(info, 6, "data", data)) return env.Undefined();
  std::string dataCwd;
  if (info.Length() > 7 && !info[7].IsUndefined() && !vnode::ArgStr(info, 7, "dataCwd", dataCwd)) return env.Undefined();
  if (lowers.size() != binds.size()) {
    Napi::RangeError::New(env, "lowers and binds differ in length").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return SyscallWorker::Run(env, "vnode.idmapOverlay", [=]() {
    for (size_t i = 0; i < lowers.size(); i++) {
      int tree = static_cast<int>(syscall(SYS_open_tree, AT_FDCWD, lowers[i].c_str(), static_cast<unsigned>(OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)));
      if (tree < 0) return WorkResult::Fail("open_tree", errno, lowers[i]);
      mount_attr at{};
      at.attr_set = MOUNT_ATTR_IDMAP;
      at.userns_fd = static_cast<uint64_t>(usernsFd);
      if (syscall(SYS_mount_setattr, tree, "", static_cast<unsigned>(AT_EMPTY_PATH), &at, sizeof at) != 0) {
        int e = errno;
        close(tree);
        return WorkResult::Fail("mount_setattr", e, lowers[i]);
      }
      if (syscall(SYS_move_mount, tree, "", AT_FDCWD, binds[i].c_str(), static_cast<unsigned>(MOVE_MOUNT_F_EMPTY_PATH)) != 0) {
        int e = errno;
        close(tree);
        return WorkResult::Fail("move_mount", e, binds[i]);
      }
      close(tree);
    }
    if (unmountFirst && umount2(target.c_str(), 0) != 0) return WorkResult::Fail("umount2", errno, target);
    if (dataCwd.empty()) {
      if (mount("overlay", target.c_str(), "overlay", static_cast<unsigned long>(flags), data.c_str()) != 0) return WorkResult::Fail("mount", errno, "overlay at " + target);
      return WorkResult{};
    }
    RelativeOverlay r{&dataCwd, &target, static_cast<unsigned long>(flags), &data};
    pthread_t t;
    int e = pthread_create(&t, nullptr, RelativeOverlayThread, &r);
    if (e != 0) return WorkResult::Fail("pthread_create", e, "overlay at " + target);
    pthread_join(t, nullptr);
    if (r.err != 0) return WorkResult::Fail(r.call, r.err, std::string(r.call) == "chdir" ? dataCwd : "overlay at " + target);
    return WorkResult{};
  });
}

void InitMount(Napi::Env env, Napi::Object exports) {
  exports.Set("idmapOverlay", Napi::Function::New(env, IdmapOverlay, "idmapOverlay"));
  exports.Set("mount", Napi::Function::New(env, Mount, "mount"));
  exports.Set("umount2", Napi::Function::New(env, Umount2, "umount2"));
  exports.Set("openTree", Napi::Function::New(env, OpenTree, "openTree"));
  exports.Set("moveMount", Napi::Function::New(env, MoveMount, "moveMount"));
  exports.Set("mountSetattr", Napi::Function::New(env, MountSetattr, "mountSetattr"));
  Napi::Object c = Napi::Object::New(env);
#define C(x) c.Set(#x, Napi::Number::New(env, static_cast<double>(x)))
  C(MS_RDONLY); C(MS_NOSUID); C(MS_NODEV); C(MS_NOEXEC); C(MS_REMOUNT); C(MS_BIND); C(MS_MOVE); C(MS_REC);
  C(MS_PRIVATE); C(MS_SLAVE); C(MS_SHARED); C(MS_UNBINDABLE); C(MS_RELATIME); C(MS_NOATIME);
  C(MNT_FORCE); C(MNT_DETACH); C(MNT_EXPIRE); C(UMOUNT_NOFOLLOW);
  C(OPEN_TREE_CLONE); C(OPEN_TREE_CLOEXEC); C(AT_RECURSIVE); C(AT_EMPTY_PATH); C(AT_FDCWD); C(AT_SYMLINK_NOFOLLOW);
  C(AT_NO_AUTOMOUNT); C(FSOPEN_CLOEXEC);
  C(MOVE_MOUNT_F_EMPTY_PATH); C(MOVE_MOUNT_T_EMPTY_PATH); C(MOVE_MOUNT_F_SYMLINKS); C(MOVE_MOUNT_F_AUTOMOUNTS);
  C(MOVE_MOUNT_T_SYMLINKS); C(MOVE_MOUNT_T_AUTOMOUNTS); C(MOVE_MOUNT_SET_GROUP); C(MOVE_MOUNT_BENEATH);
  C(MOUNT_ATTR_RDONLY); C(MOUNT_ATTR_NOSUID); C(MOUNT_ATTR_NODEV); C(MOUNT_ATTR_NOEXEC); C(MOUNT_ATTR_IDMAP); C(MOUNT_ATTR_NOSYMFOLLOW);
#undef C
  exports.Set("mountConstants", c);
}

}  // namespace

VNODE_REGISTER(InitMount);
