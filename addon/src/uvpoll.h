// A uv_poll on the JS thread's event loop, owned by one watcher object (FdWatcher,
// SeccompWatcher): opened on an fd, paused and resumed without leaving the loop, closed once (the
// handle is freed by libuv after its close callback). `data` is handed to the callback through
// the handle and cleared on close, so a callback already queued finds nothing to call.
#pragma once
#include <napi.h>
#include <uv.h>

namespace vnode {

class UvPoll {
 public:
  // 0, or a negative libuv error (nothing left open then).
  int Open(napi_env env, int fd, int events, uv_poll_cb cb, void* data) {
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok) return UV_EINVAL;
    auto* h = new uv_poll_t;
    int r = uv_poll_init(loop, h, fd);
    if (r != 0) {
      delete h;
      return r;
    }
    h->data = data;
    r = uv_poll_start(h, events, cb);
    if (r != 0) {
      uv_close(reinterpret_cast<uv_handle_t*>(h), Free);
      return r;
    }
    handle_ = h;
    events_ = events;
    cb_ = cb;
    return 0;
  }

  bool open() const { return handle_ != nullptr; }
  uv_handle_t* handle() const { return reinterpret_cast<uv_handle_t*>(handle_); }

  // No callbacks until Resume(); the fd stays registered (no second uv_poll on the same fd).
  void Pause() {
    if (handle_) uv_poll_stop(handle_);
  }

  // 0 or a negative libuv error.
  int Resume() { return handle_ ? uv_poll_start(handle_, events_, cb_) : 0; }

  void Close() {
    if (!handle_) return;
    uv_poll_stop(handle_);
    handle_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(handle_), Free);
    handle_ = nullptr;
  }

 private:
  static void Free(uv_handle_t* p) { delete reinterpret_cast<uv_poll_t*>(p); }

  uv_poll_t* handle_ = nullptr;
  int events_ = 0;
  uv_poll_cb cb_ = nullptr;
};

}  // namespace vnode
