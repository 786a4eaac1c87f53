// FdWatcher: a uv_poll on any fd (sockets, seccomp listeners, pidfds) that calls back into JS when
// the fd is ready. The readiness loop stays in libuv, so nothing here ever blocks the event loop;
// the caller then does the non-blocking call (accept, recvmsg, NOTIF_RECV, waitid) itself.
#include <uv.h>

#include <memory>

#include "syscall_util.h"
#include "uvpoll.h"

namespace {

class FdWatcher : public Napi::ObjectWrap<FdWatcher> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "FdWatcher",
                       {InstanceMethod<&FdWatcher::Stop>("stop"), InstanceMethod<&FdWatcher::SetRef>("setRef"), InstanceMethod<&FdWatcher::Pause>("pause"), InstanceMethod<&FdWatcher::Resume>("resume"),
                        InstanceAccessor<&FdWatcher::Active>("active")});
  }

  // new FdWatcher(fd, events, callback(status, events))
  explicit FdWatcher(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FdWatcher>(info) {
    Napi::Env env = info.Env();
    int64_t fd, events;
    if (!vnode::ArgInt(info, 0, "fd", fd) || !vnode::ArgInt(info, 1, "events", events)) return;
    if (info.Length() < 3 || !info[2].IsFunction()) {
      Napi::TypeError::New(env, "callback must be a function").ThrowAsJavaScriptException();
      return;
    }
    int r = poll_.Open(env, static_cast<int>(fd), static_cast<int>(events), &FdWatcher::OnPoll, this);
    if (r != 0) {
      vnode::ThrowErrno(env, "uv_poll", -r);
      return;
    }
    callback_ = Napi::Persistent(info[2].As<Napi::Function>());
    context_ = std::make_unique<Napi::AsyncContext>(env, "vnode.FdWatcher");
    Ref();  // an active watcher must outlive its JS references
  }

  ~FdWatcher() override { Close(); }

 private:
  static void OnPoll(uv_poll_t* h, int status, int events) {
    auto* self = static_cast<FdWatcher*>(h->data);
    if (!self) return;
    Napi::Env env = self->Env();
    Napi::HandleScope scope(env);
    self->callback_.MakeCallback(self->Value(), {Napi::Number::New(env, status), Napi::Number::New(env, events)}, *self->context_);
    if (env.IsExceptionPending()) {
      Napi::Error e = env.GetAndClearPendingException();
      napi_fatal_exception(env, e.Value());
    }
  }

  void Close() { poll_.Close(); }

  // After stop() nothing calls back: the callback is let go of at once. Kept until the wrapper's
  // finalizer, it would keep the wrapper alive forever whenever the callback's closure reaches it
  // (a connection object that holds its watcher, as every user does): a leak per watcher.
  Napi::Value Stop(const Napi::CallbackInfo& info) {
    if (poll_.open()) {
      Close();
      callback_.Reset();
      Unref();
    }
    return info.Env().Undefined();
  }

  // setRef(false): the watcher no longer keeps the process alive (like socket.unref()).
  Napi::Value SetRef(const Napi::CallbackInfo& info) {
    if (poll_.open()) {
      if (info.Length() > 0 && info[0].ToBoolean().Value())
        uv_ref(poll_.handle());
      else
        uv_unref(poll_.handle());
    }
    return info.Env().Undefined();
  }

  Napi::Value Active(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), poll_.open()); }

  // pause(): no callbacks until resume(); the fd stays registered (no new uv_poll on the same fd).
  Napi::Value Pause(const Napi::CallbackInfo& info) {
    poll_.Pause();
    return info.Env().Undefined();
  }

  Napi::Value Resume(const Napi::CallbackInfo& info) {
    int r = poll_.Resume();
    if (r != 0) return vnode::ThrowErrno(info.Env(), "uv_poll_start", -r);
    return info.Env().Undefined();
  }

  vnode::UvPoll poll_;
  Napi::FunctionReference callback_;
  std::unique_ptr<Napi::AsyncContext> context_;
};

void InitFdWatch(Napi::Env env, Napi::Object exports) {
  exports.Set("FdWatcher", FdWatcher::Define(env));
  Napi::Object c = Napi::Object::New(env);
  c.Set("UV_READABLE", Napi::Number::New(env, UV_READABLE));
  c.Set("UV_WRITABLE", Napi::Number::New(env, UV_WRITABLE));
  c.Set("UV_DISCONNECT", Napi::Number::New(env, UV_DISCONNECT));
  c.Set("UV_PRIORITIZED", Napi::Number::New(env, UV_PRIORITIZED));
  exports.Set("fdwatchConstants", c);
}

}  // namespace

VNODE_REGISTER(InitFdWatch);
