// vnode-supervise: keeps the vnode-manager running on the host, outside the installer's pod.
//
//   vnode-supervise --pidfile FILE --log FILE [--cgroup NAME] [--memory-max BYTES]
//                   [--pids-max N] [--cpu-weight N] [--foreground] -- MANAGER [ARGS...]
//
// - Leaves the cgroup it was started in (the DaemonSet pod's, which kubelet kills with the pod)
//   for <hierarchy>/<NAME> in every mounted cgroup hierarchy (v2 and each v1 one), with the given
//   limits, so the manager, its holders and runc shims have a cgroup and a budget of their own.
// - Detaches (setsid, a second fork; stdin /dev/null) unless --foreground; the starting process
//   exits 0 once the pidfile is written, or non-zero with the reason on stderr.
// - Runs MANAGER (a path through the install tree's `current` link, resolved at every start, so a
//   restart after an upgrade runs the new version) with its stdout and stderr into a pipe that the
//   supervisor copies to --log, which it rotates (one .1) beyond 64 MiB.
// - Restarts the manager when it exits: after 100 ms, doubling per quick exit (< 10 s of life) up
//   to 1 s. SIGHUP: restart it now (an upgrade). SIGTERM/SIGINT: SIGTERM to the manager, SIGKILL
//   after 20 s, remove the pidfile, exit 0. A second supervisor for the same pidfile refuses to
//   start (exit 3). If the supervisor itself dies, its manager gets SIGTERM (PR_SET_PDEATHSIG), so
//   the next supervisor never runs a second manager beside an orphan.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif
#ifndef CGROUP_SUPER_MAGIC
#define CGROUP_SUPER_MAGIC 0x27e0eb
#endif

#define LOG_MAX (64L << 20)
#define STOP_GRACE_MS 20000
#define QUICK_EXIT_MS 10000

static const char *log_path;
static int log_fd = -1;
static long log_size;

static long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void open_log(void) {
  log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  struct stat st;
  log_size = (log_fd >= 0 && fstat(log_fd, &st) == 0) ? st.st_size : 0;
}

static void write_log(const char *buf, size_t n) {
  if (log_fd < 0) return;
  if (log_size + (long)n > LOG_MAX) {
    char old[PATH_MAX];
    snprintf(old, sizeof old, "%s.1", log_path);
    close(log_fd);
    rename(log_path, old);
    open_log();
    if (log_fd < 0) return;
  }
  while (n > 0) {
    ssize_t w = write(log_fd, buf, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return;
    }
    buf += w;
    n -= (size_t)w;
    log_size += w;
  }
}

// One JSON line, like the manager's own log lines.
static void say(const char *level, const char *fmt, ...) {
  char msg[1024], line[1400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  for (char *p = msg; *p; p++)
    if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) *p = ' ';
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  int n = snprintf(line, sizeof line, "{\"component\":\"supervisor\",\"level\":\"%s\",\"message\":\"%s\",\"pid\":%d,\"timestamp\":\"%04d-%02d-%02dT%02d:%02d:%02dZ\"}\n",
                   level, msg, getpid(), tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  if (n > 0) write_log(line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

static int write_file(const char *path, const char *value) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t w = write(fd, value, strlen(value));
  int e = errno;
  close(fd);
  errno = e;
  return w == (ssize_t)strlen(value) ? 0 : -1;
}

struct limits {
  const char *memory_max, *pids_max, *cpu_weight;
};

// Sets a limit if the file exists in dir; a missing controller is not an error, a refused value is.
static int set_limit(const char *dir, const char *file, const char *value, char *err, size_t errlen) {
  if (!value) return 0;
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s/%s", dir, file);
  if (access(p, F_OK) != 0) return 0;
  if (write_file(p, value) != 0) {
    snprintf(err, errlen, "cannot set %s to %s: %s", p, value, strerror(errno));
    return -1;
  }
  return 0;
}

// v1 cpuset: a new cgroup has no cpus or mems, and nothing can join it until it has: its parent's.
static int inherit_cpuset(const char *parent, const char *dir, char *err, size_t errlen) {
  const char *files[] = {"cpuset.cpus", "cpuset.mems"};
  for (int k = 0; k < 2; k++) {
    char mine[PATH_MAX], theirs[PATH_MAX], val[4096];
    snprintf(mine, sizeof mine, "%s/%s", dir, files[k]);
    snprintf(theirs, sizeof theirs, "%s/%s", parent, files[k]);
    int fd = open(mine, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0; // not a cpuset hierarchy
    ssize_t n = read(fd, val, sizeof val - 1);
    close(fd);
    if (n > 1) continue; // already set
    fd = open(theirs, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    n = read(fd, val, sizeof val - 1);
    close(fd);
    if (n <= 0) continue;
    val[n] = 0;
    if (write_file(mine, val) != 0) {
      snprintf(err, errlen, "cannot set %s: %s", mine, strerror(errno));
      return -1;
    }
  }
  return 0;
}

// Creates <mnt>/<name> one component at a time (name may be nested: a/b/c); dir gets the path.
static int make_cgroup(const char *mnt, const char *name, int v1, char *dir, size_t dirlen, char *err, size_t errlen) {
  snprintf(dir, dirlen, "%s", mnt);
  const char *p = name;
  while (*p) {
    const char *slash = strchr(p, '/');
    size_t len = slash ? (size_t)(slash - p) : strlen(p);
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", dir);
    size_t cur = strlen(dir);
    snprintf(dir + cur, dirlen - cur, "/%.*s", (int)len, p);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
      snprintf(err, errlen, "cannot create cgroup %s: %s", dir, strerror(errno));
      return -1;
    }
    if (v1 && inherit_cpuset(parent, dir, err, errlen) != 0) return -1;
    p += len;
    while (*p == '/') p++;
  }
  return 0;
}

// Moves this process to <mount>/<name> in every hierarchy listed in /proc/self/cgroup.
static int move_cgroup(const char *name, const struct limits *lim, char *err, size_t errlen) {
  FILE *f = fopen("/proc/self/cgroup", "re");
  if (!f) {
    snprintf(err, errlen, "cannot read /proc/self/cgroup: %s", strerror(errno));
    return -1;
  }
  char line[4096];
  int moved = 0;
  while (fgets(line, sizeof line, f)) {
    char *c1 = strchr(line, ':');
    char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c2) continue;
    *c2 = 0;
    const char *ctrls = c1 + 1;
    char mnt[PATH_MAX];
    long magic;
    if (!*ctrls) {
      // v2: the unified mount, beside the v1 ones on a hybrid host.
      struct statfs sf;
      snprintf(mnt, sizeof mnt, "/sys/fs/cgroup/unified");
      if (statfs(mnt, &sf) != 0 || sf.f_type != CGROUP2_SUPER_MAGIC) snprintf(mnt, sizeof mnt, "/sys/fs/cgroup");
      magic = CGROUP2_SUPER_MAGIC;
    } else {
      const char *eq = strncmp(ctrls, "name=", 5) == 0 ? ctrls + 5 : ctrls;
      snprintf(mnt, sizeof mnt, "/sys/fs/cgroup/%s", eq);
      struct statfs sf;
      if (statfs(mnt, &sf) != 0) {
        // "cpu,cpuacct" may be mounted under its first name only.
        char first[256];
        snprintf(first, sizeof first, "%s", eq);
        char *comma = strchr(first, ',');
        if (comma) *comma = 0;
        snprintf(mnt, sizeof mnt, "/sys/fs/cgroup/%s", first);
      }
      magic = CGROUP_SUPER_MAGIC;
    }
    struct statfs sf;
    if (statfs(mnt, &sf) != 0 || sf.f_type != magic) continue; // not mounted here: nothing to leave
    char dir[PATH_MAX], procs[PATH_MAX + 16];
    if (make_cgroup(mnt, name, magic == CGROUP_SUPER_MAGIC, dir, sizeof dir, err, errlen) != 0) {
      fclose(f);
      return -1;
    }
    if (magic == CGROUP2_SUPER_MAGIC) {
      if (set_limit(dir, "memory.max", lim->memory_max, err, errlen) || set_limit(dir, "pids.max", lim->pids_max, err, errlen) ||
          set_limit(dir, "cpu.weight", lim->cpu_weight, err, errlen)) {
        fclose(f);
        return -1;
      }
    } else {
      // v1: cpu.shares is weight * 1024 / 100 (the v2 default 100 is the v1 default 1024).
      char shares[32] = {0};
      if (lim->cpu_weight) snprintf(shares, sizeof shares, "%ld", strtol(lim->cpu_weight, NULL, 10) * 1024 / 100);
      if (set_limit(dir, "memory.limit_in_bytes", lim->memory_max && strcmp(lim->memory_max, "max") ? lim->memory_max : NULL, err, errlen) ||
          set_limit(dir, "pids.max", lim->pids_max, err, errlen) || set_limit(dir, "cpu.shares", lim->cpu_weight ? shares : NULL, err, errlen)) {
        fclose(f);
        return -1;
      }
    }
    snprintf(procs, sizeof procs, "%s/cgroup.procs", dir);
    if (write_file(procs, "0") != 0) {
      snprintf(err, errlen, "cannot move into %s: %s", dir, strerror(errno));
      fclose(f);
      return -1;
    }
    moved++;
  }
  fclose(f);
  if (!moved) {
    snprintf(err, errlen, "no cgroup hierarchy found under /sys/fs/cgroup");
    return -1;
  }
  return 0;
}

static pid_t manager_pid;
static int out_pipe = -1, out_wfd = -1;

// The manager's stdout and stderr go into one pipe the supervisor keeps open across restarts.
static pid_t start_manager(char **argv) {
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    say("error", "fork: %s", strerror(errno));
    return -1;
  }
  if (pid == 0) {
    // A manager never outlives its supervisor: the next supervisor would start a second one on
    // the same run dir. SIGTERM lets it stop as it does on an uninstall.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(1);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    dup2(out_wfd, 1);
    dup2(out_wfd, 2);
    execv(argv[0], argv);
    dprintf(2, "{\"component\":\"supervisor\",\"level\":\"error\",\"message\":\"exec %s: %s\"}\n", argv[0], strerror(errno));
    _exit(127);
  }
  return pid;
}

static void drain_pipe(void) {
  char buf[65536];
  for (;;) {
    ssize_t n = read(out_pipe, buf, sizeof buf);
    if (n > 0) {
      write_log(buf, (size_t)n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return;
  }
}

static void usage(void) {
  fprintf(stderr, "usage: vnode-supervise --pidfile FILE --log FILE [--cgroup NAME] [--memory-max BYTES|max] [--pids-max N|max] [--cpu-weight 1-10000] [--foreground] -- MANAGER [ARGS...]\n");
  exit(2);
}

int main(int argc, char **argv) {
  const char *pidfile = NULL, *cgroup = NULL;
  struct limits lim = {0};
  int foreground = 0, i;
  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--")) {
      i++;
      break;
    }
    const char **slot = !strcmp(a, "--pidfile") ? &pidfile : !strcmp(a, "--log") ? &log_path : !strcmp(a, "--cgroup") ? &cgroup
                        : !strcmp(a, "--memory-max") ? &lim.memory_max : !strcmp(a, "--pids-max") ? &lim.pids_max : !strcmp(a, "--cpu-weight") ? &lim.cpu_weight : NULL;
    if (!strcmp(a, "--foreground")) {
      foreground = 1;
      continue;
    }
    if (!slot || i + 1 >= argc) usage();
    *slot = argv[++i];
  }
  if (!pidfile || !log_path || i >= argc || argv[i][0] != '/') usage();
  if (cgroup && (cgroup[0] == '/' || strstr(cgroup, ".."))) {
    fprintf(stderr, "vnode-supervise: --cgroup is a name below the hierarchy roots, without '..': %s\n", cgroup);
    return 2;
  }
  char **manager = argv + i;

  // One supervisor per pidfile: an exclusive lock held for life.
  int pfd = open(pidfile, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (pfd < 0) {
    fprintf(stderr, "vnode-supervise: cannot open %s: %s\n", pidfile, strerror(errno));
    return 1;
  }
  if (flock(pfd, LOCK_EX | LOCK_NB) != 0) {
    char cur[32] = {0};
    ssize_t n = pread(pfd, cur, sizeof cur - 1, 0);
    (void)n;
    fprintf(stderr, "vnode-supervise: already running (pid %s, %s)\n", strtok(cur, "\n") ? cur : "?", pidfile);
    return 3;
  }

  int ready[2] = {-1, -1};
  if (!foreground) {
    if (pipe2(ready, O_CLOEXEC) != 0) return 1;
    pid_t p = fork();
    if (p < 0) return 1;
    if (p > 0) {
      // The caller waits for the daemon's word: its pid, or why it could not start.
      close(ready[1]);
      char msg[1200];
      ssize_t n = read(ready[0], msg, sizeof msg - 1);
      if (n <= 0) {
        fprintf(stderr, "vnode-supervise: the supervisor died while starting\n");
        return 1;
      }
      msg[n] = 0;
      if (msg[0] == 'E') {
        fprintf(stderr, "vnode-supervise: %s\n", msg + 1);
        return 1;
      }
      printf("%s\n", msg + 1);
      return 0;
    }
    close(ready[0]);
    setsid();
    p = fork();
    if (p < 0) _exit(1);
    if (p > 0) _exit(0); // the flock is shared by the grandchild's copy of pfd
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      dup2(devnull, 0);
      dup2(devnull, 1);
      dup2(devnull, 2);
      if (devnull > 2) close(devnull);
    }
  }

  char err[1100] = {0};
  if (cgroup && move_cgroup(cgroup, &lim, err, sizeof err) != 0) {
    if (ready[1] >= 0) dprintf(ready[1], "E%s", err);
    else fprintf(stderr, "vnode-supervise: %s\n", err);
    return 1;
  }
  open_log();
  if (log_fd < 0) {
    snprintf(err, sizeof err, "cannot open log %s: %s", log_path, strerror(errno));
    if (ready[1] >= 0) dprintf(ready[1], "E%s", err);
    else fprintf(stderr, "vnode-supervise: %s\n", err);
    return 1;
  }
  char pidtext[32];
  int pl = snprintf(pidtext, sizeof pidtext, "%d\n", getpid());
  if (ftruncate(pfd, 0) != 0 || pwrite(pfd, pidtext, (size_t)pl, 0) != pl) {
    if (ready[1] >= 0) dprintf(ready[1], "Ecannot write %s", pidfile);
    return 1;
  }

  int op[2];
  if (pipe2(op, O_CLOEXEC) != 0) {
    if (ready[1] >= 0) dprintf(ready[1], "Epipe: %s", strerror(errno));
    return 1;
  }
  out_pipe = op[0];
  out_wfd = op[1];
  fcntl(out_pipe, F_SETFL, O_NONBLOCK);

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGHUP);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  signal(SIGPIPE, SIG_IGN);
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

  manager_pid = start_manager(manager);
  say("info", "started %s (pid %d), cgroup %s", manager[0], manager_pid, cgroup ? cgroup : "(inherited)");
  if (ready[1] >= 0) {
    dprintf(ready[1], "P%d", getpid());
    close(ready[1]);
  }

  long started = now_ms(), backoff = 100, restart_at = -1, kill_at = -1;
  int stopping = 0, restart_now = 0;
  for (;;) {
    long t = now_ms();
    int timeout = -1;
    if (restart_at >= 0) timeout = restart_at > t ? (int)(restart_at - t) : 0;
    if (kill_at >= 0) {
      int k = kill_at > t ? (int)(kill_at - t) : 0;
      timeout = timeout < 0 || k < timeout ? k : timeout;
    }
    struct pollfd fds[2] = {{sfd, POLLIN, 0}, {out_pipe, POLLIN, 0}};
    int r = poll(fds, 2, timeout);
    if (r < 0 && errno != EINTR) break;
    if (fds[1].revents & POLLIN) drain_pipe();
    if (fds[0].revents & POLLIN) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) == sizeof si) {
        if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
          if (!stopping) say("info", "stopping: SIGTERM to the manager (pid %d)", manager_pid);
          stopping = 1;
          restart_at = -1;
          if (manager_pid <= 0) {
            // Between a death and its restart: nothing to stop.
            unlink(pidfile);
            say("info", "stopped");
            return 0;
          }
          kill(manager_pid, SIGTERM);
          kill_at = now_ms() + STOP_GRACE_MS;
        } else if (si.ssi_signo == SIGHUP && !stopping && manager_pid > 0) {
          say("info", "SIGHUP: restarting the manager (pid %d)", manager_pid);
          restart_now = 1;
          kill(manager_pid, SIGTERM);
          kill_at = now_ms() + STOP_GRACE_MS;
        }
        if (si.ssi_signo != SIGCHLD) continue;
        int status;
        pid_t p;
        while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
          if (p != manager_pid) continue;
          drain_pipe();
          long lived = now_ms() - started;
          if (WIFSIGNALED(status)) say(stopping || restart_now ? "info" : "error", "manager (pid %d) killed by signal %d after %ld ms", p, WTERMSIG(status), lived);
          else say(stopping || restart_now ? "info" : "error", "manager (pid %d) exited %d after %ld ms", p, WEXITSTATUS(status), lived);
          manager_pid = 0;
          kill_at = -1;
          if (stopping) {
            unlink(pidfile);
            say("info", "stopped");
            return 0;
          }
          if (restart_now) {
            restart_now = 0;
            backoff = 100;
            restart_at = now_ms();
          } else {
            backoff = lived >= QUICK_EXIT_MS ? 100 : backoff;
            restart_at = now_ms() + backoff;
            backoff = backoff * 2 > 1000 ? 1000 : backoff * 2;
          }
        }
      }
    }
    t = now_ms();
    if (kill_at >= 0 && t >= kill_at && manager_pid > 0) {
      say("warn", "the manager (pid %d) did not stop in %d ms: SIGKILL", manager_pid, STOP_GRACE_MS);
      kill(manager_pid, SIGKILL);
      kill_at = -1;
    }
    if (restart_at >= 0 && t >= restart_at && !stopping) {
      restart_at = -1;
      started = now_ms();
      manager_pid = start_manager(manager);
      if (manager_pid > 0) say("info", "restarted %s (pid %d)", manager[0], manager_pid);
      else restart_at = now_ms() + 1000;
    }
  }
  return 1;
}
