// Namespace work that Node's multithreaded process cannot do itself (setns(CLONE_NEWUSER) needs a
// single-threaded caller): both functions clone a child from a thread-pool thread; the child is
// single-threaded, so it may create or join a user namespace. Between clone and exec the child
// uses raw syscalls only (glibc's set*id would try to signal threads that do not exist there).
//
// spawnHolder: clone(NEWUSER|NEWPID|NEWNS|... | CLONE_VM), the parent writes uid_map/gid_map,
// releases the child over a pipe, the child becomes root in its namespace and execs the holder
// program with a control socket on fd 3. The holder answers "R" when ready (or "E<message>" and
// exits). The child shares the manager's address space until its execve, on a stack of its own,
// with every signal blocked (the holder unblocks them): a plain fork copied the page tables of the
// whole manager, 2 ms at 46 MiB of RSS and 11 ms at 430 MiB, on every vNode's creation.
//
// createNetns: a child joins a user namespace, unshares a network namespace (so the netns is owned
// by that user namespace) and the parent bind-mounts /proc/<child>/ns/net onto a file.
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "syscall_util.h"

namespace {

using vnode::SyscallWorker;
using vnode::WorkResult;

int64_t NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// Reads up to len bytes, stopping at EOF. Returns bytes read, or -1 with errno (ETIMEDOUT).
ssize_t ReadUntil(int fd, char* buf, size_t len, int64_t deadline) {
  size_t got = 0;
  while (got < len) {
    int64_t left = deadline - NowMs();
    if (left <= 0) {
      errno = ETIMEDOUT;
      return -1;
    }
    pollfd p{fd, POLLIN, 0};
    int r = poll(&p, 1, static_cast<int>(left));
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (r == 0) continue;
    ssize_t n = read(fd, buf + got, len - got);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return -1;
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  return static_cast<ssize_t>(got);
}

void Reap(pid_t pid) {
  int st;
  while (waitpid(pid, &st, __WALL) < 0 && errno == EINTR) {
  }
}

std::string WaitStatusText(pid_t pid) {
  int st = 0;
  pid_t r;
  do r = waitpid(pid, &st, __WALL);
  while (r < 0 && errno == EINTR);
  if (r < 0) return "exit status unknown";
  if (WIFEXITED(st)) return "exited with code " + std::to_string(WEXITSTATUS(st));
  if (WIFSIGNALED(st)) return std::string("killed by ") + (sigabbrev_np(WTERMSIG(st)) ? sigabbrev_np(WTERMSIG(st)) : "signal");
  return "stopped";
}

bool WriteFile(const std::string& path, const std::string& data) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = write(fd, data.data(), data.size());
  int e = errno;
  close(fd);
  if (n != static_cast<ssize_t>(data.size())) {
    errno = n < 0 ? e : EIO;
    return false;
  }
  return true;
}

// In a cloned child: closes every fd but `keep`. A child of a multithreaded process inherits the
// pipe ends of every other spawn running at that moment on other threads; a helper that never
// execs would hold them open and stall those spawns (they wait for EOF on some of them).
void CloseAllExcept(std::initializer_list<int> keep) {
  int sorted[8];
  size_t n = 0;
  for (int k : keep)
    if (k >= 0 && n < 8) sorted[n++] = k;
  for (size_t i = 1; i < n; i++)
    for (size_t j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) std::swap(sorted[j - 1], sorted[j]);
  unsigned lo = 3;
  for (size_t i = 0; i < n; i++) {
    if (static_cast<unsigned>(sorted[i]) > lo) syscall(SYS_close_range, lo, static_cast<unsigned>(sorted[i]) - 1, 0u);
    if (static_cast<unsigned>(sorted[i]) + 1 > lo) lo = static_cast<unsigned>(sorted[i]) + 1;
  }
  syscall(SYS_close_range, lo, ~0u, 0u);
}

struct HolderChildArgs {
  int releaseR, releaseW, errR, errW, ctlParent, ctlChild;
  const char* path;
  char* const* argv;
  char* const* envp;
};

const char* const kStages[] = {"", "setgroups", "setresgid", "setresuid", "control fd", "/dev/null", "execve"};

// Runs in the manager's address space (CLONE_VM, not suspended: the parent writes our maps) with
// the cloning thread's TLS: libc calls that fail set that thread's errno, which is only read on
// failure paths. No allocation, nothing but the calls below until execve.
int HolderChild(void* arg) {
  const HolderChildArgs& a = *static_cast<const HolderChildArgs*>(arg);
  CloseAllExcept({a.releaseR, a.errW, a.ctlChild});
  int errfd = fcntl(a.errW, F_DUPFD_CLOEXEC, 10);
  auto fail = [errfd](int stage) {
    int msg[2] = {stage, errno};
    if (write(errfd, msg, sizeof msg) < 0) {
    }
    _exit(127);
  };
  char c;
  ssize_t r;
  do r = read(a.releaseR, &c, 1);
  while (r < 0 && errno == EINTR);
  if (r != 1) _exit(126);  // the parent gave up before writing our maps
  close(a.releaseR);
  if (syscall(SYS_setgroups, 0, nullptr) != 0) fail(1);
  if (syscall(SYS_setresgid, 0, 0, 0) != 0) fail(2);
  if (syscall(SYS_setresuid, 0, 0, 0) != 0) fail(3);
  int ctl = fcntl(a.ctlChild, F_DUPFD, 10);
  if (ctl < 0 || dup2(ctl, 3) != 3) fail(4);
  close(ctl);
  int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (nul < 0 || dup2(nul, 0) < 0 || dup2(nul, 1) < 0 || dup2(nul, 2) < 0) fail(5);
  // Nothing else of the manager may leak into the vNode.
  syscall(SYS_close_range, 4u, ~0u, CLOSE_RANGE_CLOEXEC);
  // Our own copy of the handlers (no CLONE_SIGHAND): the manager ignores SIGPIPE, which execve
  // would keep. Signals stay blocked until the holder program unblocks them: a handler of the
  // manager must never run on this stack.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigaction(SIGPIPE, &dfl, nullptr);
  execve(a.path, a.argv, a.envp);
  fail(6);
  _exit(127);
}

constexpr size_t kHolderStack = 64 * 1024;

struct HolderSpec {
  std::string path;
  std::vector<std::string> argv, envp;
  std::string uidMap, gidMap;
  unsigned long nsFlags = 0;
  int64_t timeoutMs = 10000;
};

struct HolderOut {
  int pid = -1, pidfd = -1, controlFd = -1;
};

WorkResult SpawnHolderWork(const HolderSpec& s, HolderOut& out) {
  std::vector<char*> av, ev;
  for (auto& x : s.argv) av.push_back(const_cast<char*>(x.c_str()));
  av.push_back(nullptr);
  for (auto& x : s.envp) ev.push_back(const_cast<char*>(x.c_str()));
  ev.push_back(nullptr);
  int rel[2], err[2], ctl[2];
  if (pipe2(rel, O_CLOEXEC) != 0) return WorkResult::Fail("pipe2", errno);
  if (pipe2(err, O_CLOEXEC) != 0) {
    int e = errno;
    close(rel[0]), close(rel[1]);
    return WorkResult::Fail("pipe2", e);
  }
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl) != 0) {
    int e = errno;
    close(rel[0]), close(rel[1]), close(err[0]), close(err[1]);
    return WorkResult::Fail("socketpair", e);
  }
  void* stack = mmap(nullptr, kHolderStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) {
    int e = errno;
    close(rel[0]), close(rel[1]), close(err[0]), close(err[1]), close(ctl[0]), close(ctl[1]);
    return WorkResult::Fail("mmap", e);
  }
  HolderChildArgs args{rel[0], rel[1], err[0], err[1], ctl[0], ctl[1], s.path.c_str(), av.data(), ev.data()};
  int pidfd = -1;
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);  // the child inherits it
  long pid = clone(HolderChild, static_cast<char*>(stack) + kHolderStack, static_cast<int>(s.nsFlags) | CLONE_VM | CLONE_PIDFD | SIGCHLD, &args, &pidfd);
  int cloneErr = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  close(rel[0]);
  close(err[1]);
  close(ctl[1]);
  // The child runs on `stack` until its execve (the error pipe then reads EOF) or its death:
  // unmapped only after one of those.
  auto unmapStack = [&]() {
    if (stack) munmap(stack, kHolderStack);
    stack = nullptr;
  };
  auto cleanup = [&]() {
    if (rel[1] >= 0) close(rel[1]);
    close(err[0]);
    close(ctl[0]);
    if (pidfd >= 0) close(pidfd);
  };
  if (pid < 0) {
    unmapStack();
    cleanup();
    return WorkResult::Fail("clone", cloneErr);
  }
  auto killFail = [&](const std::string& call, int e, std::string msg = "") {
    kill(static_cast<pid_t>(pid), SIGKILL);
    std::string st = WaitStatusText(static_cast<pid_t>(pid));
    unmapStack();  // dead
    cleanup();
    return WorkResult::Fail(call, e, msg.empty() ? msg : msg + "; holder " + st);
  };
  std::string proc = "/proc/" + std::to_string(pid) + "/";
  if (!WriteFile(proc + "uid_map", s.uidMap)) return killFail("write uid_map", errno);
  if (!WriteFile(proc + "gid_map", s.gidMap)) return killFail("write gid_map", errno);
  if (write(rel[1], "x", 1) != 1) return killFail("release holder", errno);
  close(rel[1]);
  rel[1] = -1;
  int64_t deadline = NowMs() + s.timeoutMs;
  int msg[2];
  ssize_t n = ReadUntil(err[0], reinterpret_cast<char*>(msg), sizeof msg, deadline);
  if (n < 0) return killFail("wait for holder exec", errno);
  if (n == sizeof msg) {
    int stage = msg[0] > 0 && msg[0] < 7 ? msg[0] : 0;
    Reap(static_cast<pid_t>(pid));
    unmapStack();
    cleanup();
    return WorkResult::Fail(std::string("holder ") + kStages[stage], msg[1]);
  }
  // EOF on the error pipe: the child has exec'd (or exited), and no longer runs on our stack.
  unmapStack();
  char ans[4096];
  n = ReadUntil(ctl[0], ans, 1, deadline);
  if (n < 0) return killFail("wait for holder ready", errno);
  if (n == 1 && ans[0] == 'R') {
    close(err[0]);
    out.pid = static_cast<int>(pid);
    out.pidfd = pidfd;
    out.controlFd = ctl[0];
    return WorkResult{};
  }
  std::string text = "exited before it was ready";
  if (n == 1 && ans[0] == 'E') {
    ssize_t m = ReadUntil(ctl[0], ans, sizeof ans - 1, deadline);
    text = m > 0 ? std::string(ans, static_cast<size_t>(m)) : "failed without a message";
  }
  return killFail("holder", ECHILD, text);
}

// spawnHolder({path, argv, env, uidMap, gidMap, nsFlags, timeoutMs}) -> Promise<{pid, pidfd, controlFd}>
Napi::Value SpawnHolder(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    Napi::TypeError::New(env, "spawnHolder(spec) needs an object").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object o = info[0].As<Napi::Object>();
  auto str = [&](const char* k, std::string& out) {
    Napi::Value v = o.Get(k);
    if (!v.IsString()) {
      Napi::TypeError::New(env, std::string("spec.") + k + " must be a string").ThrowAsJavaScriptException();
      return false;
    }
    out = v.As<Napi::String>().Utf8Value();
    return true;
  };
  auto strs = [&](const char* k, std::vector<std::string>& out) {
    Napi::Value v = o.Get(k);
    if (!v.IsArray()) {
      Napi::TypeError::New(env, std::string("spec.") + k + " must be a string array").ThrowAsJavaScriptException();
      return false;
    }
    Napi::Array a = v.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) out.push_back(a.Get(i).ToString().Utf8Value());
    return true;
  };
  auto spec = std::make_shared<HolderSpec>();
  if (!str("path", spec->path) || !strs("argv", spec->argv) || !strs("env", spec->envp) || !str("uidMap", spec->uidMap) || !str("gidMap", spec->gidMap))
    return env.Undefined();
  Napi::Value flags = o.Get("nsFlags");
  if (!flags.IsNumber()) {
    Napi::TypeError::New(env, "spec.nsFlags must be a number").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  spec->nsFlags = static_cast<unsigned long>(flags.As<Napi::Number>().Int64Value());
  if (o.Get("timeoutMs").IsNumber()) spec->timeoutMs = o.Get("timeoutMs").As<Napi::Number>().Int64Value();
  auto out = std::make_shared<HolderOut>();
  return SyscallWorker::Run(
      env, "vnode.spawnHolder", [spec, out]() { return SpawnHolderWork(*spec, *out); },
      [out](Napi::Env e, const WorkResult&) {
        Napi::Object r = Napi::Object::New(e);
        r.Set("pid", out->pid);
        r.Set("pidfd", out->pidfd);
        r.Set("controlFd", out->controlFd);
        return r;
      });
}

// The netns child: joins the vNode's user namespace, makes a network namespace there and opens
// it. It runs in the manager's address space and fd table (CLONE_VM | CLONE_FILES), on its own
// stack, with raw syscalls only; the cloning thread waits (CLONE_VFORK) and then holds the fd.
// Not sharing the fs struct (no CLONE_FS) and being a thread group of its own are what setns into
// a user namespace asks; a full fork instead copied the manager's page tables (100+ MiB of heap)
// for every pod.
struct NetnsChild {
  int userfd;
  int netfd;
  int stage;  // 1 setns, 2 unshare, 3 open
  int err;
};

int NetnsChildMain(void* arg) {
  auto* c = static_cast<NetnsChild*>(arg);
  if (syscall(SYS_setns, c->userfd, CLONE_NEWUSER) != 0) {
    c->stage = 1, c->err = errno;
    return 1;
  }
  if (syscall(SYS_unshare, CLONE_NEWNET) != 0) {
    c->stage = 2, c->err = errno;
    return 1;
  }
  long fd = syscall(SYS_openat, AT_FDCWD, "/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    c->stage = 3, c->err = errno;
    return 1;
  }
  c->netfd = static_cast<int>(fd);
  return 0;
}

WorkResult CreateNetnsWork(const std::string& usernsPath, const std::string& target) {
  int userfd = open(usernsPath.c_str(), O_RDONLY | O_CLOEXEC);
  if (userfd < 0) return WorkResult::Fail("open " + usernsPath, errno);
  constexpr size_t kChildStack = 64 * 1024;
  std::vector<char> stack(kChildStack);
  NetnsChild c{userfd, -1, 0, 0};
  // The stack grows down: the child starts at the top of its buffer (16-byte aligned).
  auto top = reinterpret_cast<uintptr_t>(stack.data() + stack.size()) & ~static_cast<uintptr_t>(15);
  long pid = clone(NetnsChildMain, reinterpret_cast<void*>(top), CLONE_VM | CLONE_VFORK | CLONE_FILES | SIGCHLD, &c);
  int cloneErr = errno;
  close(userfd);
  if (pid < 0) return WorkResult::Fail("clone", cloneErr);
  Reap(static_cast<pid_t>(pid));
  if (c.stage == 1) return WorkResult::Fail("setns(CLONE_NEWUSER) " + usernsPath, c.err);
  if (c.stage == 2) return WorkResult::Fail("unshare(CLONE_NEWNET)", c.err);
  if (c.stage == 3 || c.netfd < 0) return WorkResult::Fail("open the new network namespace", c.stage == 3 ? c.err : ECHILD);
  // The fd keeps the namespace alive after its only process is gone; the bind keeps it after us.
  std::string src = "/proc/thread-self/fd/" + std::to_string(c.netfd);
  WorkResult res;
  if (mount(src.c_str(), target.c_str(), nullptr, MS_BIND, nullptr) != 0) res = WorkResult::Fail("mount bind netns " + target, errno);
  close(c.netfd);
  return res;
}

// createNetns(usernsPath, targetFile, timeoutMs) -> Promise<void>; targetFile must exist.
// timeoutMs is checked and otherwise unused: nothing here waits on another process any more.
Napi::Value CreateNetns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string userns, target;
  int64_t timeoutMs = 10000;
  if (!vnode::ArgStr(info, 0, "usernsPath", userns) || !vnode::ArgStr(info, 1, "target", target)) return env.Undefined();
  if (info.Length() > 2 && !vnode::ArgInt(info, 2, "timeoutMs", timeoutMs)) return env.Undefined();
  return SyscallWorker::Run(
      env, "vnode.createNetns", [=]() { return CreateNetnsWork(userns, target); }, [](Napi::Env e, const WorkResult&) { return e.Undefined(); });
}

void InitHolder(Napi::Env env, Napi::Object exports) {
  exports.Set("spawnHolder", Napi::Function::New(env, SpawnHolder, "spawnHolder"));
  exports.Set("createNetns", Napi::Function::New(env, CreateNetns, "createNetns"));
  Napi::Object c = Napi::Object::New(env);
#define C(x) c.Set(#x, Napi::Number::New(env, static_cast<double>(x)))
  C(CLONE_NEWUSER); C(CLONE_NEWPID); C(CLONE_NEWNS); C(CLONE_NEWUTS); C(CLONE_NEWIPC); C(CLONE_NEWNET); C(CLONE_NEWCGROUP);
#undef C
  exports.Set("holderConstants", c);
}

}  // namespace

VNODE_REGISTER(InitHolder);
