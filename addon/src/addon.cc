// Module entry: runs every registered init function (see registry.h).
#include "registry.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  for (auto fn : vnode::Registry()) fn(env, exports);
  return exports;
}

NODE_API_MODULE(vnode_addon, Init)
