// Each source file registers its exports with VNODE_REGISTER so that adding a file never means
// editing a shared init function.
#pragma once
#include <napi.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

namespace vnode {

using InitFn = void (*)(Napi::Env env, Napi::Object exports);

inline std::vector<InitFn>& Registry() {
  static std::vector<InitFn> fns;
  return fns;
}

struct Registrar {
  explicit Registrar(InitFn fn) { Registry().push_back(fn); }
};

inline const char* ErrnoName(int err) {
  const char* n = strerrorname_np(err);  // glibc >= 2.32: "EPERM", ...
  return n ? n : "EUNKNOWN";
}

// Throws a JS Error whose `errno` and `code` fields carry the failed call's errno, so the
// TypeScript layer can branch on it and messages say which call failed.
inline Napi::Value ThrowErrno(Napi::Env env, const char* call, int err) {
  Napi::Error e = Napi::Error::New(env, std::string(call) + ": " + std::strerror(err));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, call));
  e.Set("code", Napi::String::New(env, ErrnoName(err)));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

}  // namespace vnode

#define VNODE_REGISTER(fn) static ::vnode::Registrar vnode_registrar_##fn(fn)
