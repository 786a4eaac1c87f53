// SeccompWatcher: one seccomp listener on the thread's event loop (uv_poll), which answers on its
// own the few calls whose answer is plain arithmetic on registers and figures JS handed it, and
// hands every other notification to JS.
//
// Why: an intercepted sysinfo() was ~21 us against a floor of ~8.5 (a C listener doing nothing but
// RECV and SEND), and the CONTINUE round trip ~13: entering JS for each notification (the
// callback scope, microtask checkpoint, a dispatch that builds objects and a key string per call,
// three addon calls) sat on the caller's critical path, since with SYNC_WAKE_UP the caller runs on
// this CPU only once this thread sleeps again.
//
// What it answers (routes, set by JS from the syscall table; everything else, and every case
// below that is not the plain success, goes to JS, which has the full handler):
//   mknod / mknodat of a FIFO, socket, regular file or whiteout (char 0:0): CONTINUE, the JS
//     handler's answer, decided from the mode and dev registers alone.
//   sysinfo (64-bit layout): the container's figures JS computed (valid for the window JS gave,
//     the same 5 ms its own cache keeps them), the host's loads, uptime from the container's
//     start, written with process_vm_writev after ID_VALID.
//   sched_getaffinity(0, len, ptr): the caller's real mask narrowed to the container's CPUs (JS's
//     narrowMask rule), after ID_VALID.
// A turn takes one notification: libuv's poll is level-triggered, so the next is read on the next
// turn, after every other ready listener has had its turn (fair without a burst count, and no
// poll(2) after an answer, when the caller waits for this thread to sleep). After an answer made
// here, the same caller's next call is waited for a little (Linger), as long as nothing else on
// this loop is ready.
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/sysinfo.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "syscall_util.h"
#include "uvpoll.h"

namespace {

constexpr int kRouteMknodMode1 = 1;  // mknod(path, mode, dev)
constexpr int kRouteMknodMode2 = 2;  // mknodat(dirfd, path, mode, dev)
constexpr int kRouteSysinfo64 = 3;   // sysinfo(info), 8-byte longs
constexpr int kRouteAffinity64 = 4;  // sched_getaffinity(pid, len, mask), 8-byte longs

// Callback kinds: (kind, value)
constexpr int kNotification = 1;  // a notification is in the words array; value: the poll events
constexpr int kEvents = 2;        // no notification for JS; value: the poll events (JS checks for a hang-up)
constexpr int kPollError = 3;     // value: libuv's negative status
constexpr int kRecvFailed = 4;    // value: errno of NOTIF_RECV
constexpr int kCounted = 5;       // answers were counted here since armCounted() (value 0): once per arming

// Highest user address on x86_64 with 4-level paging (as TargetMemory checks).
constexpr uint64_t kUserMax = 0x7ffffffff000ULL;
constexpr size_t kMaskMax = 1024;

// The figures JS gives for sysinfo, by index (NaN: the host's own).
enum SysinfoFact { kFrom, kUntil, kTotal, kFree, kShared, kBuffer, kSwapTotal, kSwapFree, kProcs, kStartedAtMs, kInitStartSec, kFactCount };

int64_t MonoNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

double NowMs(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) * 1000.0 + static_cast<double>(ts.tv_nsec) / 1e6;
}

struct Route {
  uint32_t arch;
  int32_t nr;
  int kind;
};

enum class Fast { kNo, kAnswered, kGone, kSendFailed };

class SeccompWatcher : public Napi::ObjectWrap<SeccompWatcher> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "SeccompWatcher",
                       {InstanceMethod<&SeccompWatcher::Stop>("stop"), InstanceMethod<&SeccompWatcher::Pause>("pause"), InstanceMethod<&SeccompWatcher::Resume>("resume"),
                        InstanceMethod<&SeccompWatcher::SetRoutes>("setRoutes"), InstanceMethod<&SeccompWatcher::SetSysinfo>("setSysinfo"),
                        InstanceMethod<&SeccompWatcher::SetAffinity>("setAffinity"), InstanceMethod<&SeccompWatcher::TakeCounts>("takeCounts"),
                        InstanceMethod<&SeccompWatcher::ArmCounted>("armCounted"),
                        InstanceAccessor<&SeccompWatcher::Active>("active")});
  }

  // new SeccompWatcher(fd, words: BigUint64Array(12), callback(kind, value))
  explicit SeccompWatcher(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SeccompWatcher>(info) {
    Napi::Env env = info.Env();
    int64_t fd;
    if (!vnode::ArgInt(info, 0, "fd", fd)) return;
    if (info.Length() < 2 || !info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_biguint64_array ||
        info[1].As<Napi::TypedArray>().ElementLength() < 12) {
      Napi::TypeError::New(env, "words must be a BigUint64Array of 12 words").ThrowAsJavaScriptException();
      return;
    }
    if (info.Length() < 3 || !info[2].IsFunction()) {
      Napi::TypeError::New(env, "callback must be a function").ThrowAsJavaScriptException();
      return;
    }
    int r = poll_.Open(env, static_cast<int>(fd), kEventsWatched, &SeccompWatcher::OnPoll, this);
    if (r != 0) {
      vnode::ThrowErrno(env, "uv_poll", -r);
      return;
    }
    fd_ = static_cast<int>(fd);
    // VNODE_SECCOMP_NO_LINGER=1: no waiting for the caller's next call (to measure without it).
    const char* noLinger = getenv("VNODE_SECCOMP_NO_LINGER");
    linger_ = !(noLinger && strcmp(noLinger, "1") == 0);
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) == napi_ok && loop) backendFd_ = uv_backend_fd(loop);
    words_ = Napi::Persistent(info[1].As<Napi::TypedArray>());
    wordsData_ = info[1].As<Napi::TypedArrayOf<uint64_t>>().Data();
    callback_ = Napi::Persistent(info[2].As<Napi::Function>());
    context_ = std::make_unique<Napi::AsyncContext>(env, "vnode.SeccompWatcher");
    Ref();  // an active watcher must outlive its JS references
  }

  ~SeccompWatcher() override { Close(); }

 private:
  static constexpr int kEventsWatched = UV_READABLE | UV_DISCONNECT;

  static void OnPoll(uv_poll_t* h, int status, int events) {
    auto* self = static_cast<SeccompWatcher*>(h->data);
    if (!self) return;
    self->Turn(status, events);
    // Told once the turn is over (its callers answered, the lingering done): the first answer
    // counted here since JS armed it, so JS collects counts only while there are some.
    if (self->countedSignal_) {
      self->countedSignal_ = false;
      self->Call(kCounted, 0);
    }
  }

  void Turn(int status, int events) {
    if (status < 0) {
      Call(kPollError, status);
      return;
    }
    // The first RECV follows libuv's own readiness report (RECV would block with nothing pending,
    // and a notification seen pending stays taken-able: its caller dying makes RECV say ENOENT).
    // Not after a hang-up: libuv reports a bare EPOLLHUP as readable too.
    bool knownReady = (events & (UV_READABLE | UV_DISCONNECT)) == UV_READABLE;
    if (!knownReady) {
      pollfd p{fd_, POLLIN, 0};
      int pr;
      do pr = poll(&p, 1, 0);
      while (pr < 0 && errno == EINTR);
      if (pr <= 0 || !(p.revents & POLLIN)) {
        Call(kEvents, events);
        return;
      }
    }
    seccomp_notif n;
    if (!Recv(n)) {
      if (errno == ENOENT) {
        if (events & UV_DISCONNECT) Call(kEvents, events);
        return;
      }
      Call(kRecvFailed, errno);
      return;
    }
    if (!AnswerHere(n)) {
      Deliver(n, events);
      return;
    }
    if (events & UV_DISCONNECT) {
      Call(kEvents, events);
      return;
    }
    if (linger_) Linger();
  }

  bool Recv(seccomp_notif& n) {
    memset(&n, 0, sizeof n);  // the kernel insists on a zeroed buffer
    return vnode::IoctlRetry(fd_, SECCOMP_IOCTL_NOTIF_RECV, &n) == 0;
  }

  // Answers n here if a route takes it (counted), else false: JS is to have it.
  bool AnswerHere(const seccomp_notif& n) {
    int64_t t0 = MonoNs();
    Fast f = Fast::kNo;
    size_t ri = 0;
    for (; ri < routes_.size(); ri++) {
      if (routes_[ri].arch == n.data.arch && routes_[ri].nr == n.data.nr) {
        f = Answer(routes_[ri].kind, n);
        break;
      }
    }
    if (f == Fast::kNo) return false;
    if (f == Fast::kAnswered) answered_[ri]++;
    else if (f == Fast::kGone) gone_[ri]++;
    else sendFailed_++;
    fastNs_ += static_cast<double>(MonoNs() - t0);
    if (countedArmed_) countedArmed_ = false, countedSignal_ = true;
    return true;
  }

  // Hands n to JS, decoded into the words array.
  void Deliver(const seccomp_notif& n, int events) {
    uint64_t* w = wordsData_;
    w[0] = n.id;
    w[1] = static_cast<uint32_t>(n.pid);
    w[2] = n.flags;
    w[3] = static_cast<uint32_t>(n.data.nr);
    w[4] = n.data.arch;
    w[5] = n.data.instruction_pointer;
    for (size_t i = 0; i < 6; i++) w[6 + i] = n.data.args[i];
    Call(kNotification, events);
  }

  // After an answer here the caller often calls again at once (a loop of sysinfo, a runtime's
  // start-up): its next notification is waited for here, up to kLingerWaitNs each and kLingerTurnNs
  // in all, instead of going back through a turn of libuv (an epoll_wait with a zero timeout, which
  // Node's loop idle-time metrics add before every blocking one, and the loop's phases), which
  // cost the round trip 2-3 us (12.1-12.3 us against 9.7, alternating runs). Whatever else this loop has to do ends the
  // wait: the loop's own epoll fd is watched too (another listener ready, a message from the
  // agent, a thread-pool completion); a timer due is late by at most kLingerTurnNs.
  void Linger() {
    constexpr int64_t kLingerWaitNs = 200'000, kLingerTurnNs = 2'000'000;
    const int64_t end = MonoNs() + kLingerTurnNs;
    for (;;) {
      int64_t left = end - MonoNs();
      if (left <= 0) return;
      pollfd p[2] = {{fd_, POLLIN, 0}, {backendFd_, POLLIN, 0}};
      timespec wait{0, std::min(left, kLingerWaitNs)};
      if (ppoll(p, backendFd_ >= 0 ? 2 : 1, &wait, nullptr) <= 0) return;
      // Not ours (the loop has other work), or a hang-up (libuv reports it): back to the loop.
      if (!(p[0].revents & POLLIN) || (p[0].revents & (POLLHUP | POLLERR | POLLNVAL))) return;
      seccomp_notif n;
      if (!Recv(n)) return;  // ENOENT: its caller went away
      if (!AnswerHere(n)) {
        Deliver(n, UV_READABLE);
        return;
      }
    }
  }

  void Call(int kind, int value) {
    if (!poll_.open()) return;
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    callback_.MakeCallback(Value(), {Napi::Number::New(env, kind), Napi::Number::New(env, value)}, *context_);
    if (env.IsExceptionPending()) {
      Napi::Error e = env.GetAndClearPendingException();
      napi_fatal_exception(env, e.Value());
    }
  }

  // The answer of one route, or kNo: JS handles the notification (it is still pending).
  Fast Answer(int kind, const seccomp_notif& n) {
    switch (kind) {
      case kRouteMknodMode1:
      case kRouteMknodMode2: {
        uint32_t mode = static_cast<uint32_t>(n.data.args[kind == kRouteMknodMode1 ? 1 : 2]);
        uint32_t dev = static_cast<uint32_t>(n.data.args[kind == kRouteMknodMode1 ? 2 : 3]);
        uint32_t type = mode & S_IFMT;
        bool device = type == S_IFCHR || type == S_IFBLK;
        if (device && !(type == S_IFCHR && dev == 0)) return Fast::kNo;
        return Send(n.id, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE);
      }
      case kRouteSysinfo64:
        return Sysinfo(n);
      case kRouteAffinity64:
        return Affinity(n);
      default:
        return Fast::kNo;
    }
  }

  Fast Send(uint64_t id, int64_t val, uint32_t flags) {
    seccomp_notif_resp r;
    memset(&r, 0, sizeof r);
    r.id = id;
    r.val = val;
    r.flags = flags;
    if (vnode::IoctlRetry(fd_, SECCOMP_IOCTL_NOTIF_SEND, &r) == 0) return Fast::kAnswered;
    if (errno == ENOENT) return Fast::kGone;
    lastSendErrno_ = errno;
    return Fast::kSendFailed;
  }

  // ID_VALID, then the whole buffer written into the caller, then the answer. Anything short of
  // that is left to JS (which reads the situation again and answers EFAULT, ESRCH, ...): what
  // was written here is what JS writes too.
  Fast WriteAndAnswer(const seccomp_notif& n, uint64_t addr, const void* data, size_t len, int64_t val) {
    if (addr == 0 || addr + len > kUserMax) return Fast::kNo;
    uint64_t id = n.id;
    if (vnode::IoctlRetry(fd_, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) != 0) return Fast::kNo;
    iovec local{const_cast<void*>(data), len};
    iovec remote{reinterpret_cast<void*>(addr), len};
    ssize_t w = process_vm_writev(static_cast<pid_t>(n.pid), &local, 1, &remote, 1, 0);
    if (w < 0 || static_cast<size_t>(w) != len) return Fast::kNo;
    return Send(n.id, val, 0);
  }

  Fast Sysinfo(const seccomp_notif& n) {
    if (!haveSysinfo_) return Fast::kNo;
    double now = NowMs(CLOCK_REALTIME);  // JS's Date.now()
    if (!(now >= sysinfo_[kFrom] && now < sysinfo_[kUntil])) return Fast::kNo;
    struct sysinfo h;
    if (sysinfo(&h) != 0) return Fast::kNo;
    static_assert(sizeof(struct sysinfo) == 112, "the 64-bit struct sysinfo");
    struct sysinfo s;
    memset(&s, 0, sizeof s);
    const double* f = sysinfo_;
    double uptime = static_cast<double>(h.uptime);
    if (std::isfinite(f[kStartedAtMs])) uptime = std::max(0.0, std::floor((now - f[kStartedAtMs]) / 1000.0));
    else if (std::isfinite(f[kInitStartSec])) uptime = std::max(0.0, std::floor(static_cast<double>(h.uptime) - f[kInitStartSec]));
    s.uptime = static_cast<long>(uptime);
    for (int i = 0; i < 3; i++) s.loads[i] = h.loads[i];
    auto mem = [&](int k, unsigned long host) -> unsigned long {
      return std::isfinite(f[k]) ? static_cast<unsigned long>(std::floor(f[k])) : host * h.mem_unit;
    };
    s.totalram = mem(kTotal, h.totalram);
    s.freeram = mem(kFree, h.freeram);
    s.sharedram = mem(kShared, h.sharedram);
    s.bufferram = mem(kBuffer, h.bufferram);
    s.totalswap = mem(kSwapTotal, h.totalswap);
    s.freeswap = mem(kSwapFree, h.freeswap);
    double procs = std::isfinite(f[kProcs]) ? f[kProcs] : static_cast<double>(h.procs);
    s.procs = static_cast<unsigned short>(std::min(procs, 65535.0));
    s.mem_unit = 1;
    return WriteAndAnswer(n, n.data.args[0], &s, sizeof s, 0);
  }

  Fast Affinity(const seccomp_notif& n) {
    if (static_cast<int32_t>(n.data.args[0]) != 0 || affinity_.empty()) return Fast::kNo;
    double now = NowMs(CLOCK_REALTIME);
    if (!(now >= affinityFrom_ && now < affinityUntil_)) return Fast::kNo;
    // Masks up to kMaskMax bytes (8192 CPUs) here; a larger len (or one the kernel refuses) goes to JS.
    // (JS's checks first: len is an unsigned int, cut to 64 KiB, a multiple of 8; the kernel
    // answers at most its own mask size, far below kMaskMax on any real machine.)
    uint64_t asked = std::min<uint64_t>(static_cast<uint32_t>(n.data.args[1]), 0x10000);
    if (asked == 0 || asked % 8 != 0) return Fast::kNo;
    uint64_t len = std::min<uint64_t>(asked, kMaskMax);
    unsigned char real[kMaskMax];
    long r = syscall(SYS_sched_getaffinity, static_cast<pid_t>(n.pid), static_cast<size_t>(len), real);
    if (r <= 0) return Fast::kNo;
    size_t bytes = std::min<size_t>(len, static_cast<size_t>(r));
    unsigned char out[kMaskMax];
    memset(out, 0, bytes);
    size_t set = 0;
    for (size_t cpu = 0; cpu < bytes * 8; cpu++) {
      unsigned char bit = static_cast<unsigned char>(1u << (cpu & 7));
      if ((real[cpu >> 3] & bit) && (cpu >> 3) < affinity_.size() && (affinity_[cpu >> 3] & bit)) {
        out[cpu >> 3] |= bit;
        set++;
      }
    }
    if (set == 0) {
      // Pinned away from every visible CPU: the first as many CPUs of the real mask as are visible.
      size_t want = std::max<size_t>(1, affinityCount_);
      for (size_t cpu = 0; cpu < bytes * 8 && set < want; cpu++) {
        unsigned char bit = static_cast<unsigned char>(1u << (cpu & 7));
        if (real[cpu >> 3] & bit) {
          out[cpu >> 3] |= bit;
          set++;
        }
      }
    }
    return WriteAndAnswer(n, n.data.args[2], out, bytes, static_cast<int64_t>(bytes));
  }

  void Close() { poll_.Close(); }

  // After stop() nothing calls back and nothing is answered here; the fd stays open (its owner
  // closes it). The callback is let go of at once (see FdWatcher.Stop: a leak otherwise).
  Napi::Value Stop(const Napi::CallbackInfo& info) {
    if (poll_.open()) {
      Close();
      callback_.Reset();
      words_.Reset();
      wordsData_ = nullptr;
      Unref();
    }
    return info.Env().Undefined();
  }

  Napi::Value Active(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), poll_.open()); }

  Napi::Value Pause(const Napi::CallbackInfo& info) {
    poll_.Pause();
    return info.Env().Undefined();
  }

  Napi::Value Resume(const Napi::CallbackInfo& info) {
    int r = poll_.Resume();
    if (r != 0) return vnode::ThrowErrno(info.Env(), "uv_poll_start", -r);
    return info.Env().Undefined();
  }

  // setRoutes(Int32Array [arch, nr, kind, ...]): the calls answered here (replaces the set;
  // counts start again).
  Napi::Value SetRoutes(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
        info[0].As<Napi::TypedArray>().ElementLength() % 3 != 0) {
      Napi::TypeError::New(env, "routes must be an Int32Array of (arch, nr, kind) triples").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    auto a = info[0].As<Napi::TypedArrayOf<int32_t>>();
    std::vector<Route> routes;
    for (size_t i = 0; i + 2 < a.ElementLength(); i += 3) {
      int kind = a[i + 2];
      if (kind < kRouteMknodMode1 || kind > kRouteAffinity64) {
        Napi::RangeError::New(env, "unknown route kind " + std::to_string(kind)).ThrowAsJavaScriptException();
        return env.Undefined();
      }
      routes.push_back({static_cast<uint32_t>(a[i]), a[i + 1], kind});
    }
    routes_ = std::move(routes);
    answered_.assign(routes_.size(), 0);
    gone_.assign(routes_.size(), 0);
    return env.Undefined();
  }

  // setSysinfo(Float64Array of kFactCount): the container's figures and the window they hold for.
  Napi::Value SetSysinfo(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
        info[0].As<Napi::TypedArray>().ElementLength() != kFactCount) {
      Napi::TypeError::New(env, "sysinfo facts must be a Float64Array of " + std::to_string(kFactCount)).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    auto a = info[0].As<Napi::TypedArrayOf<double>>();
    for (size_t i = 0; i < kFactCount; i++) sysinfo_[i] = a[i];
    haveSysinfo_ = true;
    return env.Undefined();
  }

  // setAffinity(mask: Buffer, count, from, until): the visible CPUs (a bit per CPU, `count` set).
  Napi::Value SetAffinity(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 4 || !info[0].IsBuffer() || !info[1].IsNumber() || !info[2].IsNumber() || !info[3].IsNumber()) {
      Napi::TypeError::New(env, "setAffinity(mask: Buffer, count, from, until)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    auto b = info[0].As<Napi::Buffer<unsigned char>>();
    affinity_.assign(b.Data(), b.Data() + std::min<size_t>(b.Length(), 0x10000));
    affinityCount_ = static_cast<size_t>(std::max(0.0, info[1].As<Napi::Number>().DoubleValue()));
    affinityFrom_ = info[2].As<Napi::Number>().DoubleValue();
    affinityUntil_ = info[3].As<Napi::Number>().DoubleValue();
    return env.Undefined();
  }

  // armCounted(): call back (kCounted) once, after the turn in which the next answer is counted here.
  Napi::Value ArmCounted(const Napi::CallbackInfo& info) {
    countedArmed_ = true;
    return info.Env().Undefined();
  }

  // takeCounts() -> Float64Array [answered per route..., gone per route..., sendFailed, lastSendErrno, fastNs]; resets them.
  Napi::Value TakeCounts(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    size_t k = routes_.size();
    auto out = Napi::Float64Array::New(env, 2 * k + 3);
    for (size_t i = 0; i < k; i++) {
      out[i] = answered_[i];
      out[k + i] = gone_[i];
      answered_[i] = 0;
      gone_[i] = 0;
    }
    out[2 * k] = sendFailed_;
    out[2 * k + 1] = lastSendErrno_;
    out[2 * k + 2] = fastNs_;
    sendFailed_ = 0;
    fastNs_ = 0;
    return out;
  }

  int fd_ = -1;
  int backendFd_ = -1;
  bool linger_ = true;
  vnode::UvPoll poll_;
  Napi::Reference<Napi::TypedArray> words_;
  uint64_t* wordsData_ = nullptr;
  Napi::FunctionReference callback_;
  std::unique_ptr<Napi::AsyncContext> context_;
  std::vector<Route> routes_;
  std::vector<double> answered_, gone_;
  double sendFailed_ = 0, fastNs_ = 0;
  int lastSendErrno_ = 0;
  bool haveSysinfo_ = false;
  bool countedArmed_ = false, countedSignal_ = false;
  double sysinfo_[kFactCount] = {};
  std::vector<unsigned char> affinity_;
  size_t affinityCount_ = 0;
  double affinityFrom_ = 0, affinityUntil_ = 0;
};

void InitSeccompWatch(Napi::Env env, Napi::Object exports) {
  exports.Set("SeccompWatcher", SeccompWatcher::Define(env));
  Napi::Object c = Napi::Object::New(env);
  c.Set("ROUTE_MKNOD_MODE1", Napi::Number::New(env, kRouteMknodMode1));
  c.Set("ROUTE_MKNOD_MODE2", Napi::Number::New(env, kRouteMknodMode2));
  c.Set("ROUTE_SYSINFO64", Napi::Number::New(env, kRouteSysinfo64));
  c.Set("ROUTE_AFFINITY64", Napi::Number::New(env, kRouteAffinity64));
  c.Set("NOTIFICATION", Napi::Number::New(env, kNotification));
  c.Set("EVENTS", Napi::Number::New(env, kEvents));
  c.Set("POLL_ERROR", Napi::Number::New(env, kPollError));
  c.Set("RECV_FAILED", Napi::Number::New(env, kRecvFailed));
  c.Set("COUNTED", Napi::Number::New(env, kCounted));
  c.Set("SYSINFO_FACTS", Napi::Number::New(env, kFactCount));
  exports.Set("seccompWatchConstants", c);
}

}  // namespace

VNODE_REGISTER(InitSeccompWatch);
