// Small process facts the TypeScript side needs and Node does not expose.
#include <sys/syscall.h>
#include <unistd.h>

#include "registry.h"

namespace {

// gettid of the calling thread: lets tests check that blocking work really runs off the main thread.
Napi::Value GetTid(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(syscall(SYS_gettid)));
}

void InitBasics(Napi::Env env, Napi::Object exports) {
  exports.Set("gettid", Napi::Function::New(env, GetTid, "gettid"));
}

}  // namespace

VNODE_REGISTER(InitBasics);
