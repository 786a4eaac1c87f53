// Helpers shared by the syscall wrappers: errno-carrying errors for promises, a worker that runs
// one blocking call off the event loop, and argument readers that throw a TypeError on bad input.
#pragma once
#include <napi.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>

#include "registry.h"

namespace vnode {

// The same shape ThrowErrno gives, as a value (for promise rejections).
inline Napi::Error ErrnoError(Napi::Env env, const std::string& call, int err) {
  Napi::Error e = Napi::Error::New(env, call + ": " + std::strerror(err));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, call));
  e.Set("code", Napi::String::New(env, ErrnoName(err)));
  return e;
}

// Result of blocking work: a value or (call, errno), plus an optional message for failures that
// are not a single errno (e.g. a helper process that reported its own error text).
struct WorkResult {
  int64_t value = 0;
  int err = 0;
  std::string call;
  std::string message;
  static WorkResult Fail(std::string c, int e, std::string msg = "") {
    WorkResult r;
    r.err = e;
    r.call = std::move(c);
    r.message = std::move(msg);
    return r;
  }
};

// Runs `work` on the libuv thread pool and settles a promise: resolve(convert(value)) or reject with
// an errno error. `work` must not touch JS values.
class SyscallWorker : public Napi::AsyncWorker {
 public:
  using Work = std::function<WorkResult()>;
  using Convert = std::function<Napi::Value(Napi::Env, const WorkResult&)>;

  static Napi::Promise Run(Napi::Env env, const char* name, Work work, Convert convert = nullptr) {
    auto* w = new SyscallWorker(env, name, std::move(work), std::move(convert));
    Napi::Promise p = w->deferred_.Promise();
    w->Queue();
    return p;
  }

 protected:
  void Execute() override { result_ = work_(); }
  void OnOK() override {
    Napi::Env env = Env();
    if (result_.err != 0) {
      Napi::Error e = ErrnoError(env, result_.call, result_.err);
      if (!result_.message.empty()) e.Set("message", Napi::String::New(env, result_.call + ": " + result_.message + " (" + std::strerror(result_.err) + ")"));
      deferred_.Reject(e.Value());
      return;
    }
    deferred_.Resolve(convert_ ? convert_(env, result_) : Napi::Number::New(env, static_cast<double>(result_.value)));
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  SyscallWorker(Napi::Env env, const char* name, Work work, Convert convert)
      : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)), work_(std::move(work)), convert_(std::move(convert)) {}
  Napi::Promise::Deferred deferred_;
  Work work_;
  Convert convert_;
  WorkResult result_;
};

// ioctl(2) again after EINTR (the seccomp listener's RECV, SEND, ID_VALID, ADDFD).
inline int IoctlRetry(int fd, unsigned long req, void* arg) {
  int r;
  do r = ioctl(fd, req, arg);
  while (r < 0 && errno == EINTR);
  return r;
}

// Argument readers: return false after throwing a TypeError that names the argument.
inline bool ArgInt(const Napi::CallbackInfo& info, size_t i, const char* what, int64_t& out) {
  if (info.Length() <= i || !info[i].IsNumber()) {
    Napi::TypeError::New(info.Env(), std::string(what) + " must be a number").ThrowAsJavaScriptException();
    return false;
  }
  out = info[i].As<Napi::Number>().Int64Value();
  return true;
}

inline bool ArgU64(const Napi::CallbackInfo& info, size_t i, const char* what, uint64_t& out) {
  if (info.Length() > i && info[i].IsBigInt()) {
    bool lossless = true;
    out = info[i].As<Napi::BigInt>().Uint64Value(&lossless);
    if (lossless) return true;
  } else if (info.Length() > i && info[i].IsNumber()) {
    double d = info[i].As<Napi::Number>().DoubleValue();
    if (d >= 0) {
      out = static_cast<uint64_t>(d);
      return true;
    }
  }
  Napi::TypeError::New(info.Env(), std::string(what) + " must be a non-negative bigint").ThrowAsJavaScriptException();
  return false;
}

inline bool ArgStr(const Napi::CallbackInfo& info, size_t i, const char* what, std::string& out) {
  if (info.Length() <= i || !info[i].IsString()) {
    Napi::TypeError::New(info.Env(), std::string(what) + " must be a string").ThrowAsJavaScriptException();
    return false;
  }
  out = info[i].As<Napi::String>().Utf8Value();
  return true;
}

// A string or null/undefined.
inline bool ArgOptStr(const Napi::CallbackInfo& info, size_t i, const char* what, std::optional<std::string>& out) {
  if (info.Length() <= i || info[i].IsNull() || info[i].IsUndefined()) {
    out.reset();
    return true;
  }
  std::string s;
  if (!ArgStr(info, i, what, s)) return false;
  out = std::move(s);
  return true;
}

}  // namespace vnode
