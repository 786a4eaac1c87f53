/* Forwarding a call to the manager over <runDir>/launch.sock: the wire format is at the top of
   vnode.c (the manager's side: agent/launch/launchProtocol.ts). */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "launcher.h"

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

/* ---------- forwarding a call to the manager ---------- */
static int connect_manager(void) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  int n = snprintf(sa.sun_path, sizeof sa.sun_path, "%s/launch.sock", run_dir());
  if (n < 0 || (size_t)n >= sizeof sa.sun_path) return -1;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    int e = errno;
    close(fd);
    errno = e;
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

/* Calls that are safe to run again (by the fallback) when the manager died in the middle of one,
   or did not answer in time: vnode-runc's delete, CNI DEL and VERSION, and what containerd asks
   containerd-shim-vnode-v2 of the manager (-v, -info: queries; start and delete never come here). */
static int idempotent(const char *entry, int argc, char **argv) {
  if (strcmp(entry, "vnode-runc") == 0) return runc_command_is(argc, argv, "delete");
  if (strcmp(entry, "vnode-cni") == 0) {
    const char *cmd = getenv("CNI_COMMAND");
    return cmd && (strcmp(cmd, "DEL") == 0 || strcmp(cmd, "VERSION") == 0);
  }
  if (strcmp(entry, "containerd-shim-vnode-v2") == 0) return 1;
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
    /* No socket at all: no manager is installed here, nothing to wait for. A refused one is a
       manager being restarted without a keeper. */
    if (fd >= 0 || wait_ms <= 0 || errno == ENOENT) return fd;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long ms = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
    if (ms >= wait_ms) return -1;
    struct timespec nap = {0, 50 * 1000000L};
    nanosleep(&nap, NULL);
  }
}

/* Returns only when the manager cannot be reached within wait_ms (or died during an idempotent
   call). */
void forward(const char *entry, int argc, char **argv, long wait_ms) {
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
