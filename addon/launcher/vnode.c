/*
 * vnode: the multi-call front of the install tree.
 *
 * containerd runs containerd-shim-vnode-v2, vnode-cni and (through the runc shim) vnode-runc
 * several times per pod. Starting Node.js costs ~50 ms here, so these entries are this small C
 * program: it hands the call to the long-running vnode-manager over a unix socket and prints
 * what the manager answers, or execs what the manager tells it to. All policy lives in the
 * TypeScript manager; this file only moves bytes, fds and exit codes.
 *
 * Names it acts on (basename of argv[0], or argv[1] when started as "vnode"):
 *   containerd-shim-vnode-v2              start/delete: exec the stock runc shim (shim_exec);
 *                                         -v/-info: forwarded (fallback: run the JS entry)
 *   vnode-cni                             forwarded to the manager (fallback: run the JS entry)
 *   vnode-runc, runc                      forwarded for hooked commands, else exec runc
 *   vnode-holder                          the per-vNode namespace holder (pid 1 of the vNode)
 *   vnode-nsexec                          enter a process's namespaces and exec a command
 *   vnode-manager, vnode (CLI)            exec the bundled node with the JS entry
 *
 * Wire format of one call (all integers little-endian u32, strings as u32 length + bytes):
 *   request : magic "VNL1", entry, cwd, argc, argv[argc], envc, env[envc], stdin
 *   answer  : magic "VNA1", kind
 *             kind 0 (exit): code, stdout, stderr
 *             kind 1 (exec): path, argc, argv[argc], envc, env[envc]   (env is added to ours)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAX_MSG (64u << 20)

static const char *prog = "vnode";

static void die(int code, const char *fmt, const char *arg) {
  fprintf(stderr, "%s: ", prog);
  fprintf(stderr, fmt, arg ? arg : "");
  fputc('\n', stderr);
  exit(code);
}

/* ---------- growable buffer ---------- */
struct buf {
  char *p;
  size_t len, cap;
};

static void buf_put(struct buf *b, const void *data, size_t n) {
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n) cap *= 2;
    b->p = realloc(b->p, cap);
    if (!b->p) die(70, "out of memory%s", NULL);
    b->cap = cap;
  }
  memcpy(b->p + b->len, data, n);
  b->len += n;
}

static void buf_u32(struct buf *b, uint32_t v) {
  unsigned char le[4] = {v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >> 24) & 0xff};
  buf_put(b, le, 4);
}

static void buf_str(struct buf *b, const char *s, size_t n) {
  buf_u32(b, (uint32_t)n);
  buf_put(b, s, n);
}

/* ---------- reading the answer ---------- */
struct rd {
  const char *p;
  size_t len, off;
};

static uint32_t rd_u32(struct rd *r) {
  if (r->len - r->off < 4) die(70, "truncated answer from vnode-manager%s", NULL);
  const unsigned char *q = (const unsigned char *)r->p + r->off;
  r->off += 4;
  return (uint32_t)q[0] | ((uint32_t)q[1] << 8) | ((uint32_t)q[2] << 16) | ((uint32_t)q[3] << 24);
}

/* Returns a NUL-terminated copy (strings may carry binary data; the length is returned too). */
static char *rd_str(struct rd *r, size_t *out_len) {
  uint32_t n = rd_u32(r);
  if (r->len - r->off < n) die(70, "truncated answer from vnode-manager%s", NULL);
  char *s = malloc((size_t)n + 1);
  if (!s) die(70, "out of memory%s", NULL);
  memcpy(s, r->p + r->off, n);
  s[n] = 0;
  r->off += n;
  if (out_len) *out_len = n;
  return s;
}

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static void read_fd_all(int fd, struct buf *b) {
  char tmp[65536];
  for (;;) {
    ssize_t n = read(fd, tmp, sizeof tmp);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (n == 0) return;
    buf_put(b, tmp, (size_t)n);
    if (b->len > MAX_MSG) die(70, "input too large%s", NULL);
  }
}

/* ---------- install tree ---------- */
static char tree[PATH_MAX];

static void find_tree(void) {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) die(70, "cannot read /proc/self/exe%s", NULL);
  exe[n] = 0;
  /* <tree>/bin/vnode -> <tree> */
  char *slash = strrchr(exe, '/');
  if (slash) *slash = 0;
  slash = strrchr(exe, '/');
  if (slash) *slash = 0;
  snprintf(tree, sizeof tree, "%s", exe);
}

static const char *run_dir(void) {
  const char *d = getenv("VNODE_RUN_DIR");
  return d && *d ? d : "/run/vnode";
}

static void exec_node(const char *entry, int argc, char **argv) {
  char node[PATH_MAX], mainjs[PATH_MAX];
  snprintf(node, sizeof node, "%s/lib/node", tree);
  snprintf(mainjs, sizeof mainjs, "%s/lib/app/agent/main.js", tree);
  if (access(node, X_OK) != 0) snprintf(node, sizeof node, "node"); /* dev tree: node from PATH */
  char **args = calloc((size_t)argc + 4, sizeof(char *));
  if (!args) die(70, "out of memory%s", NULL);
  int i = 0;
  args[i++] = node;
  args[i++] = "--enable-source-maps";
  args[i++] = mainjs;
  for (int a = 1; a < argc; a++) args[i++] = argv[a];
  args[i] = NULL;
  setenv("VNODE_ENTRY", entry, 1);
  execvp(node, args);
  die(70, "cannot exec node: %s", strerror(errno));
}

static void exec_runc(char **argv) {
  char path[PATH_MAX];
  const char *runc = getenv("VNODE_RUNC");
  if (!runc || !*runc) {
    snprintf(path, sizeof path, "%s/bin/runc", tree);
    if (access(path, X_OK) == 0) runc = path;
    else if (strcmp(prog, "runc") == 0) die(127, "no runc to run (set VNODE_RUNC or install %s)", path); /* "runc" in PATH is us */
    else runc = "runc";
  }
  argv[0] = (char *)runc;
  execvp(runc, argv);
  die(127, "cannot exec runc: %s", strerror(errno));
}

/* ---------- forwarding a call to the manager ---------- */
static int connect_manager(void) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  int n = snprintf(sa.sun_path, sizeof sa.sun_path, "%s/launch.sock", run_dir());
  if (n < 0 || (size_t)n >= sizeof sa.sun_path) return -1;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    close(fd);
    return -1;
  }
  /* A manager that never answers must not hold a pod's start forever (containerd's own timeouts
     are per call); ten minutes covers the slowest legitimate call, a vNode's first start. */
  struct timeval tv = {.tv_sec = 600};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

static int want_stdin(const char *entry) {
  return strcmp(entry, "vnode-cni") == 0 || strcmp(entry, "containerd-shim-vnode-v2") == 0;
}

/* The runc command in a runc command line (the first word after runc's global flags). */
static const char *runc_command(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (argv[i][0] != '-') return argv[i];
    /* global flags with a value (runc 1.1) */
    if (strcmp(argv[i], "--root") == 0 || strcmp(argv[i], "--log") == 0 || strcmp(argv[i], "--log-format") == 0 ||
        strcmp(argv[i], "--criu") == 0 || strcmp(argv[i], "--rootless") == 0)
      i++;
  }
  return NULL;
}

static int runc_command_is(int argc, char **argv, const char *cmd) {
  const char *c = runc_command(argc, argv);
  return c && strcmp(c, cmd) == 0;
}

/* Calls that are safe to run again when the manager died in the middle of one: containerd's
   `shim delete` and CNI DEL are idempotent by contract. */
static int idempotent(const char *entry, int argc, char **argv) {
  if (strcmp(entry, "vnode-runc") == 0) return runc_command_is(argc, argv, "delete");
  if (strcmp(entry, "vnode-cni") == 0) {
    const char *cmd = getenv("CNI_COMMAND");
    return cmd && (strcmp(cmd, "DEL") == 0 || strcmp(cmd, "VERSION") == 0);
  }
  if (strcmp(entry, "containerd-shim-vnode-v2") == 0) return argc > 1 && strcmp(argv[argc - 1], "delete") == 0;
  return 0;
}

/* Stdin already read for the manager, handed to the fallback through a pipe. */
static struct buf saved_stdin;

static void restore_stdin(void) {
  int p[2];
  if (pipe(p) != 0) return;
  /* Small (a CNI config, a shim's options): fits the pipe buffer, so no writer process needed. */
  if (saved_stdin.len <= 65536) write_all(p[1], saved_stdin.p ? saved_stdin.p : "", saved_stdin.len);
  close(p[1]);
  dup2(p[0], 0);
  close(p[0]);
}

/* Connects, waiting up to wait_ms for a manager that is (re)starting: its supervisor brings a
   dead one back within about a second, and it answers a few seconds later. */
static int connect_manager_within(long wait_ms) {
  struct timespec t0, now;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    int fd = connect_manager();
    if (fd >= 0 || wait_ms <= 0) return fd;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long ms = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
    if (ms >= wait_ms) return -1;
    struct timespec nap = {0, 50 * 1000000L};
    nanosleep(&nap, NULL);
  }
}

/* Returns only when the manager cannot be reached within wait_ms (or died during an idempotent
   call). */
static void forward(const char *entry, int argc, char **argv, long wait_ms) {
  int fd = connect_manager_within(wait_ms);
  if (fd < 0) return;
  if (wait_ms > 0) {
    /* The socket outlives the manager (the fd keeper holds it): a connection made while none
       runs waits in the backlog for the next one, so the wait is for the answer, not the
       connect. */
    struct timeval tv = {.tv_sec = wait_ms / 1000, .tv_usec = (wait_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }

  struct buf req = {0};
  buf_put(&req, "VNL1", 4);
  buf_str(&req, entry, strlen(entry));
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof cwd)) cwd[0] = 0;
  buf_str(&req, cwd, strlen(cwd));
  buf_u32(&req, (uint32_t)argc);
  for (int i = 0; i < argc; i++) buf_str(&req, argv[i], strlen(argv[i]));
  uint32_t envc = 0;
  for (char **e = environ; *e; e++) envc++;
  buf_u32(&req, envc);
  for (char **e = environ; *e; e++) buf_str(&req, *e, strlen(*e));
  struct buf in = {0};
  if (want_stdin(entry)) read_fd_all(0, &in);
  saved_stdin = in;
  buf_str(&req, in.p ? in.p : "", in.len);

  struct buf framed = {0};
  buf_u32(&framed, (uint32_t)req.len);
  buf_put(&framed, req.p, req.len);
  if (write_all(fd, framed.p, framed.len) != 0) die(70, "cannot send to vnode-manager: %s", strerror(errno));
  shutdown(fd, SHUT_WR);

  struct buf ans = {0};
  read_fd_all(fd, &ans);
  close(fd);
  if (ans.len < 8 && idempotent(entry, argc, argv)) {
    restore_stdin();
    return; /* the manager went away mid-call: the fallback does it instead */
  }
  if (ans.len < 8) die(70, "vnode-manager went away during the call (it is restarted by its supervisor; the caller may retry)%s", NULL);
  struct rd r = {ans.p, ans.len, 0};
  uint32_t total = rd_u32(&r);
  if (total != ans.len - 4) die(70, "malformed answer from vnode-manager (length)%s", NULL);
  if (r.len - r.off < 4 || memcmp(r.p + r.off, "VNA1", 4) != 0) die(70, "malformed answer from vnode-manager (magic)%s", NULL);
  r.off += 4;
  uint32_t kind = rd_u32(&r);
  if (kind == 0) {
    int code = (int)rd_u32(&r);
    size_t on, en;
    char *out = rd_str(&r, &on);
    char *err = rd_str(&r, &en);
    write_all(1, out, on);
    write_all(2, err, en);
    exit(code);
  }
  if (kind == 1) {
    char *path = rd_str(&r, NULL);
    uint32_t n = rd_u32(&r);
    if (n > 65536) die(70, "malformed answer from vnode-manager (argc)%s", NULL);
    char **args = calloc((size_t)n + 1, sizeof(char *));
    for (uint32_t i = 0; i < n; i++) args[i] = rd_str(&r, NULL);
    uint32_t ne = rd_u32(&r);
    if (ne > 65536) die(70, "malformed answer from vnode-manager (envc)%s", NULL);
    for (uint32_t i = 0; i < ne; i++) putenv(rd_str(&r, NULL));
    execv(path, args);
    die(127, "cannot exec %s", path);
  }
  die(70, "unknown answer kind from vnode-manager%s", NULL);
}

/* ---------- vnode-holder: pid 1 of a vNode ----------
 * vnode-holder [--hostname NAME] [--root DIR] [--commit]
 * Started by the manager's clone (addon/src/holder.cc) as root of a fresh user namespace, in new
 * pid, mount, uts, ipc, net and cgroup namespaces, with a control socket on fd 3. It sets the
 * hostname, makes every mount private, pivots into DIR (an empty directory: nothing of the host
 * stays visible in the vNode's mount namespace), answers "R" on fd 3 (or "E<message>" and exits),
 * and with --commit waits for "C": if the manager dies before recording this holder, fd 3 reads
 * EOF and the holder exits, so no holder outlives a manager that never knew about it. Then it
 * reaps every process that re-parents to it until SIGTERM/SIGINT (or SIGKILL from the manager). */
static volatile sig_atomic_t stop;
static void on_term(int sig) {
  (void)sig;
  stop = 1;
}
static void on_chld(int sig) { (void)sig; }

static void holder_fail(int ctl, const char *what, int err) {
  char msg[512];
  int n = snprintf(msg, sizeof msg, "E%s: %s", what, strerror(err));
  if (ctl >= 0 && n > 0 && write(ctl, msg, (size_t)n) < 0) { /* nobody listens: nothing to tell */ }
  _exit(1);
}

static int holder_main(int argc, char **argv) {
  const char *hostname = NULL, *root = NULL;
  int commit = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--hostname") == 0 && i + 1 < argc) hostname = argv[++i];
    else if (strcmp(argv[i], "--root") == 0 && i + 1 < argc) root = argv[++i];
    else if (strcmp(argv[i], "--commit") == 0) commit = 1;
    else {
      fprintf(stderr, "usage: vnode-holder [--hostname NAME] [--root DIR] [--commit]\n");
      return 2;
    }
  }
  int ctl = fcntl(3, F_GETFD) != -1 ? 3 : -1;
  prctl(PR_SET_NAME, "vnode-holder", 0, 0, 0); /* comm says what it is, not "vnode" */
  /* hostPID pods see this process as their pid 1: its command line must not show host paths.
     The arguments are parsed already; blank them in place (argv strings are contiguous). */
  if (argc > 1) {
    char *from = argv[1];
    char *to = argv[argc - 1] + strlen(argv[argc - 1]);
    char *h = hostname ? strdup(hostname) : NULL, *r = root ? strdup(root) : NULL;
    hostname = h;
    root = r;
    memset(from, 0, (size_t)(to - from));
  }
  struct sigaction sa = {.sa_handler = on_term};
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  struct sigaction sc = {.sa_handler = on_chld, .sa_flags = SA_NOCLDSTOP};
  sigaction(SIGCHLD, &sc, NULL);

  if (hostname && sethostname(hostname, strlen(hostname)) != 0) holder_fail(ctl, "sethostname", errno);
  if (root) {
    /* Private first, so neither the bind below nor anything later propagates to the host. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) holder_fail(ctl, "make / private", errno);
    if (mount(root, root, NULL, MS_BIND, NULL) != 0) holder_fail(ctl, "bind root", errno);
    if (chdir(root) != 0) holder_fail(ctl, "chdir root", errno);
    /* pivot_root(".", ".") stacks the old root on the new one; detaching "." drops the host tree. */
    if (syscall(SYS_pivot_root, ".", ".") != 0) holder_fail(ctl, "pivot_root", errno);
    if (umount2(".", MNT_DETACH) != 0) holder_fail(ctl, "detach host root", errno);
    if (chdir("/") != 0) holder_fail(ctl, "chdir /", errno);
  }
  if (ctl >= 0) {
    if (write(ctl, "R", 1) < 0) { /* the releaser went away: handled below */ }
    if (commit) {
      char c = 0;
      ssize_t n;
      do n = read(ctl, &c, 1);
      while (n < 0 && errno == EINTR && !stop);
      if (n != 1 || c != 'C') _exit(0); /* the manager never recorded us */
    }
    close(ctl);
  }
  /* Reap every child that re-parents to us (we are the vNode's pid 1). Signals are blocked
     except inside sigsuspend, so a SIGCHLD between the reap and the wait is never lost. */
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGCHLD);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGINT);
  sigprocmask(SIG_BLOCK, &block, &old);
  while (!stop) {
    int st;
    while (waitpid(-1, &st, WNOHANG) > 0) {
    }
    if (stop) break;
    sigsuspend(&old);
  }
  return 0;
}

/* ---------- vnode-nsexec PID NS[,NS...] [--mount-proc] -- CMD ARGS ----------
 * Joins the namespaces of PID (user first), becomes root when the user ns is joined, and execs
 * CMD. When mnt is joined the command is opened on the host first and run with execveat, since a
 * holder's root is empty (a static binary such as busybox still runs there). --mount-proc gives
 * the command a private mount namespace with a /proc of the joined pid namespace. */
static int open_command(const char *cmd) {
  if (strchr(cmd, '/')) return open(cmd, O_PATH | O_CLOEXEC);
  const char *path = getenv("PATH");
  if (!path || !*path) path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  char dir[PATH_MAX];
  while (*path) {
    size_t n = strcspn(path, ":");
    if (n > 0 && n < sizeof dir - 2 - strlen(cmd)) {
      memcpy(dir, path, n);
      dir[n] = '/';
      strcpy(dir + n + 1, cmd);
      if (access(dir, X_OK) == 0) return open(dir, O_PATH | O_CLOEXEC);
    }
    path += n;
    if (*path == ':') path++;
  }
  errno = ENOENT;
  return -1;
}

static int nsexec_main(int argc, char **argv) {
  int dashes = -1, mount_proc = 0;
  for (int i = 3; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) {
      dashes = i;
      break;
    }
    if (strcmp(argv[i], "--mount-proc") == 0) mount_proc = 1;
    else dashes = -2;
  }
  if (argc < 5 || dashes < 0 || dashes + 1 >= argc) {
    fprintf(stderr, "usage: vnode-nsexec PID user,mnt,net,ipc,uts,pid,cgroup [--mount-proc] -- CMD [ARGS...]\n");
    return 2;
  }
  char **cmd = argv + dashes + 1;
  char *end;
  long pid = strtol(argv[1], &end, 10);
  if (*end || pid <= 0) die(2, "bad pid %s", argv[1]);
  static const struct {
    const char *name;
    int flag;
  } kinds[] = {{"user", CLONE_NEWUSER}, {"cgroup", CLONE_NEWCGROUP}, {"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS},
               {"net", CLONE_NEWNET},   {"pid", CLONE_NEWPID},       {"mnt", CLONE_NEWNS}};
  /* Open every namespace first (the paths go away once we enter the mount ns), then join in a
     fixed order: user first, so the others are joined with the vNode's capabilities. */
  int fds[7];
  for (int k = 0; k < 7; k++) fds[k] = -1;
  char list[256];
  snprintf(list, sizeof list, ",%s,", argv[2]);
  for (int k = 0; k < 7; k++) {
    char want[32];
    snprintf(want, sizeof want, ",%s,", kinds[k].name);
    if (!strstr(list, want)) continue;
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/ns/%s", pid, kinds[k].name);
    fds[k] = open(path, O_RDONLY | O_CLOEXEC);
    if (fds[k] < 0) die(1, "cannot open %s", path);
  }
  int rootfd = -1, exefd = -1;
  if (fds[6] >= 0) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/root", pid);
    rootfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    exefd = open_command(cmd[0]);
    if (exefd < 0) {
      fprintf(stderr, "vnode-nsexec: %s: %s\n", cmd[0], strerror(errno));
      return 127;
    }
  }
  for (int k = 0; k < 7; k++) {
    if (fds[k] < 0) continue;
    if (setns(fds[k], kinds[k].flag) != 0) {
      fprintf(stderr, "vnode-nsexec: setns %s: %s\n", kinds[k].name, strerror(errno));
      return 1;
    }
    close(fds[k]);
  }
  if (fds[0] >= 0) {
    if (setgroups(0, NULL) != 0 || setresgid(0, 0, 0) != 0 || setresuid(0, 0, 0) != 0) {
      fprintf(stderr, "vnode-nsexec: become root in the vNode: %s\n", strerror(errno));
      return 1;
    }
  }
  if (rootfd >= 0) {
    if (fchdir(rootfd) != 0 || chroot(".") != 0 || chdir("/") != 0) {
      fprintf(stderr, "vnode-nsexec: enter root: %s\n", strerror(errno));
      return 1;
    }
    close(rootfd);
  }
  if (fds[5] >= 0) {
    /* A new pid namespace applies to children only: fork so the command runs inside it. */
    pid_t child = fork();
    if (child < 0) die(1, "fork: %s", strerror(errno));
    if (child > 0) {
      int st;
      while (waitpid(child, &st, 0) < 0 && errno == EINTR) {
      }
      if (WIFEXITED(st)) return WEXITSTATUS(st);
      return 128 + WTERMSIG(st);
    }
  }
  if (mount_proc) {
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) != 0 ||
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) {
      fprintf(stderr, "vnode-nsexec: mount /proc: %s\n", strerror(errno));
      return 1;
    }
  }
  if (exefd >= 0) {
    syscall(SYS_execveat, exefd, "", cmd, environ, AT_EMPTY_PATH);
  } else {
    execvp(cmd[0], cmd);
  }
  fprintf(stderr, "vnode-nsexec: exec %s: %s\n", cmd[0], strerror(errno));
  return 127;
}

/* ---------- vnode-inject PID SRC=DST... [-- CMD ARGS...] ----------
 * Binds host files (vnodefs' /proc/sys entries) over paths inside a running container's mount
 * namespace, which runc refuses to do from config.json: each source is cloned with open_tree in
 * the host's mount namespace, then we join the container's and move_mount the clones onto their
 * targets. Single-threaded C, so setns(CLONE_NEWNS) works. A missing target is skipped.
 * The targets are looked up from the container's pid, net, ipc and uts namespaces too: procfs
 * gives each of those its own dentries under /proc/sys (kernel/pid_max is per pid namespace
 * since 6.14, net/ per network namespace), and a mount placed on the host's dentry is invisible
 * to the container. The pid namespace applies to children only, hence the fork.
 * Alone it prints how many targets it bound. With "-- CMD ARGS...", the binding runs in a child
 * (the namespaces it joins are not ours to keep) and then, if it succeeded, CMD replaces us in
 * the host's namespaces with every fd intact: vnode-runc's `start` hook answers with
 * "vnode-inject PID ... -- runc ... start ID", so no process is started from the manager. */
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
static int inject(int argc, char **argv, int quiet) {
  char *end;
  long pid = strtol(argv[1], &end, 10);
  if (*end || pid <= 0) die(2, "bad pid %s", argv[1]);
  int n = argc - 2;
  int *trees = calloc((size_t)n, sizeof(int));
  char **dsts = calloc((size_t)n, sizeof(char *));
  if (!trees || !dsts) die(70, "out of memory%s", NULL);
  for (int i = 0; i < n; i++) {
    char *eq = strchr(argv[i + 2], '=');
    if (!eq || eq == argv[i + 2] || eq[1] != '/') die(2, "bad binding %s (SRC=/DST)", argv[i + 2]);
    *eq = 0;
    dsts[i] = eq + 1;
    trees[i] = (int)syscall(SYS_open_tree, AT_FDCWD, argv[i + 2], OPEN_TREE_CLONE | O_CLOEXEC);
    if (trees[i] < 0) {
      fprintf(stderr, "vnode-inject: open_tree %s: %s\n", argv[i + 2], strerror(errno));
      return 1;
    }
  }
  /* All opened before we leave the host's mount namespace (and its /proc); mnt joined last. */
  static const struct { const char *name; int type; } nss[] = {
      {"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS}, {"net", CLONE_NEWNET}, {"pid", CLONE_NEWPID}, {"mnt", CLONE_NEWNS}};
  enum { NNS = sizeof nss / sizeof nss[0] };
  int nsfd[NNS];
  char path[64];
  snprintf(path, sizeof path, "/proc/%ld/root", pid);
  int root = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) {
    fprintf(stderr, "vnode-inject: open %s: %s\n", path, strerror(errno));
    return 1;
  }
  for (int i = 0; i < NNS; i++) {
    snprintf(path, sizeof path, "/proc/%ld/ns/%s", pid, nss[i].name);
    nsfd[i] = open(path, O_RDONLY | O_CLOEXEC);
    if (nsfd[i] < 0) {
      fprintf(stderr, "vnode-inject: open %s: %s\n", path, strerror(errno));
      return 1;
    }
  }
  for (int i = 0; i < NNS; i++) {
    if (setns(nsfd[i], nss[i].type) != 0) {
      fprintf(stderr, "vnode-inject: join the %s namespace of %ld: %s\n", nss[i].name, pid, strerror(errno));
      return 1;
    }
  }
  fflush(stdout);
  pid_t child = fork();
  if (child < 0) {
    fprintf(stderr, "vnode-inject: fork: %s\n", strerror(errno));
    return 1;
  }
  if (child > 0) {
    int st;
    while (waitpid(child, &st, 0) < 0) {
      if (errno != EINTR) {
        fprintf(stderr, "vnode-inject: wait: %s\n", strerror(errno));
        return 1;
      }
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
  }
  /* Resolve targets against the container's root, not the namespace's. */
  if (fchdir(root) != 0 || chroot(".") != 0) {
    fprintf(stderr, "vnode-inject: enter the container's root: %s\n", strerror(errno));
    _exit(1);
  }
  int done = 0;
  for (int i = 0; i < n; i++) {
    if (access(dsts[i], F_OK) != 0) continue;
    if (syscall(SYS_move_mount, trees[i], "", AT_FDCWD, dsts[i], MOVE_MOUNT_F_EMPTY_PATH) != 0) {
      fprintf(stderr, "vnode-inject: move_mount onto %s: %s\n", dsts[i], strerror(errno));
      _exit(1);
    }
    done++;
  }
  if (!quiet) {
    printf("%d\n", done);
    fflush(stdout);
  }
  _exit(0);
}

static int inject_main(int argc, char **argv) {
  int sep = 0;
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--") == 0) {
      sep = i;
      break;
    }
  if ((sep ? sep : argc) < 3 || (sep && sep + 1 >= argc)) {
    fprintf(stderr, "usage: vnode-inject PID SRC=DST... [-- CMD ARGS...]\n");
    return 2;
  }
  if (!sep) return inject(argc, argv, 0);
  argv[sep] = NULL;
  pid_t child = fork();
  if (child < 0) {
    fprintf(stderr, "vnode-inject: fork: %s\n", strerror(errno));
    return 1;
  }
  if (child == 0) _exit(inject(sep, argv, 1));
  int st;
  while (waitpid(child, &st, 0) < 0) {
    if (errno != EINTR) {
      fprintf(stderr, "vnode-inject: wait: %s\n", strerror(errno));
      return 1;
    }
  }
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
  execv(argv[sep + 1], argv + sep + 1);
  fprintf(stderr, "vnode-inject: exec %s: %s\n", argv[sep + 1], strerror(errno));
  return 127;
}

/* vNode containers keep their runc state under <runDir>/runc/<namespace>, apart from the runc
   handler's (/run/containerd/runc/<namespace>): the runc shim passes --root <root>/<namespace> on
   every runc call (its `delete` action too), and each is rewritten here, before the manager sees
   it, so every call agrees. */
static void own_runc_root(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (argv[i][0] != '-') return; /* the command: no global flags after it */
    const char *v = NULL;
    int inline_form = strncmp(argv[i], "--root=", 7) == 0;
    if (inline_form) v = argv[i] + 7;
    else if (strcmp(argv[i], "--root") == 0 && i + 1 < argc) v = argv[i + 1];
    if (!v) continue;
    const char *ns = strrchr(v, '/');
    ns = ns && ns[1] ? ns + 1 : "default";
    size_t n = strlen(run_dir()) + strlen(ns) + 16;
    char *root = malloc(n);
    if (!root) die(70, "out of memory%s", NULL);
    if (inline_form) snprintf(root, n, "--root=%s/runc/%s", run_dir(), ns);
    else snprintf(root, n, "%s/runc/%s", run_dir(), ns);
    if (inline_form) argv[i] = root;
    else argv[i + 1] = root;
    return;
  }
}

/* `runc exec` of a vNode container with --ignore-paused: a restarted manager freezes and thaws a
   container for a few ms to get the syscalls the dead one left unanswered issued again
   (docs/seccomp.md, "Restarts"), and an exec in that window must not fail with "cannot exec in a
   paused container"; the new process joins the cgroup and is thawed with it. CRI never pauses. */
static char **exec_ignoring_paused(int argc, char **argv) {
  char **out = calloc((size_t)argc + 2, sizeof(char *));
  if (!out) die(70, "out of memory%s", NULL);
  int j = 0;
  for (int i = 0; i < argc; i++) {
    out[j++] = argv[i];
    if (strcmp(argv[i], "exec") == 0 && j == i + 1) {
      int has = 0;
      for (int k = i + 1; k < argc; k++) has |= strcmp(argv[k], "--ignore-paused") == 0;
      if (!has) out[j++] = "--ignore-paused";
    }
  }
  out[j] = NULL;
  return out;
}

/* Runs the stock containerd-shim-runc-v2 of the tree with the same arguments, stdin and cwd.
   Its runc (found by name in PATH, as containerd sends no runc options for this runtime) is
   vnode-runc, which hands create, start and delete to the manager. The shim daemon that `start`
   forks inherits this environment, and so does every runc it runs. */
static void shim_exec(char **argv) {
  char shim[PATH_MAX], dir[PATH_MAX], runc[PATH_MAX];
  snprintf(shim, sizeof shim, "%s/bin/containerd-shim-runc-v2", tree);
  snprintf(dir, sizeof dir, "%s/lib/runc-path", tree);
  snprintf(runc, sizeof runc, "%s/bin/runc", tree);
  if (access(runc, X_OK) != 0) die(127, "no runc in the install tree (%s)", runc);
  const char *old = getenv("PATH");
  size_t n = strlen(dir) + (old ? strlen(old) : 0) + 2;
  char *path = malloc(n);
  if (!path) die(70, "out of memory%s", NULL);
  snprintf(path, n, "%s%s%s", dir, old && *old ? ":" : "", old ? old : "");
  setenv("PATH", path, 1);
  setenv("VNODE_RUNC", runc, 1);
  setenv("VNODE_RUNC_HOOKED", ",create,start,delete,", 1);
  argv[0] = "containerd-shim-runc-v2";
  execv(shim, argv);
  die(127, "cannot exec the runc shim %s", shim);
}

static const char *base(const char *p) {
  const char *s = strrchr(p, '/');
  return s ? s + 1 : p;
}

int main(int argc, char **argv) {
  const char *name = base(argv[0]);
  /* "vnode <entry> args..." is the same as calling the entry's link. */
  if (strcmp(name, "vnode") == 0 && argc > 1 &&
      (strcmp(argv[1], "containerd-shim-vnode-v2") == 0 || strcmp(argv[1], "vnode-cni") == 0 ||
       strcmp(argv[1], "vnode-runc") == 0 || strcmp(argv[1], "vnode-holder") == 0 ||
       strcmp(argv[1], "vnode-nsexec") == 0 || strcmp(argv[1], "vnode-inject") == 0 || strcmp(argv[1], "vnode-manager") == 0)) {
    name = argv[1];
    argv++;
    argc--;
  }
  prog = name;
  find_tree();

  if (strcmp(name, "vnode-holder") == 0) return holder_main(argc, argv);
  if (strcmp(name, "vnode-nsexec") == 0) return nsexec_main(argc, argv);
  if (strcmp(name, "vnode-inject") == 0) return inject_main(argc, argv);
  if (strcmp(name, "vnode-runc") == 0 || strcmp(name, "runc") == 0) {
    /* Thin step: only the commands the manager hooks cross the socket; the rest go straight to
       runc with every fd (console socket, stdio, pid file) intact. Started as "runc" it is the
       runc the stock runc shim finds first in its PATH (lib/runc-path/runc, see shim_exec). */
    const char *hooked = getenv("VNODE_RUNC_HOOKED"); /* e.g. ",create,start,delete," */
    if (hooked) own_runc_root(argc, argv);
    const char *cmd = runc_command(argc, argv);
    if (hooked && cmd && strcmp(cmd, "exec") == 0) argv = exec_ignoring_paused(argc, argv); /* argc is not used past here */
    if (cmd && hooked) {
      char want[64];
      snprintf(want, sizeof want, ",%s,", cmd);
      if (strstr(hooked, want)) {
        /* A manager being restarted is waited for: create and start need it (a container never
           starts without its vNode), delete only tells it, so it waits briefly (containerd kills
           `shim delete` after 5 s) and then deletes alone; the manager reconciles (a delete left
           in the socket's backlog still reaches the next manager, which finds it done). */
        int del = strcmp(cmd, "delete") == 0;
        forward("vnode-runc", argc, argv, del ? 2500 : 120000);
        if (!del) die(70, "vnode-manager is not running (waited 120 s); the container was not %s", strcmp(cmd, "create") == 0 ? "created" : "started");
      }
    }
    exec_runc(argv);
  }
  if (strcmp(name, "containerd-shim-vnode-v2") == 0) {
    /* start and delete are the stock runc shim's, with vnode-runc as its runc: containerd talks
       to the pod's runc shim directly, so no task connection depends on the manager. */
    const char *action = argc > 1 ? argv[argc - 1] : "";
    if (strcmp(action, "start") == 0 || strcmp(action, "delete") == 0) shim_exec(argv);
    forward(name, argc, argv, 0);
    exec_node(name, argc, argv);
  }
  if (strcmp(name, "vnode-cni") == 0) {
    forward(name, argc, argv, 0);
    /* No manager: the JS entry handles what it can alone (CNI DEL). */
    exec_node(name, argc, argv);
  }
  exec_node(strcmp(name, "vnode-manager") == 0 ? "vnode-manager" : "vnode", argc, argv);
  return 70;
}
