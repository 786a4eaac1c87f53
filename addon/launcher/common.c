/* The launcher's plumbing, shared by every entry: errors, growable buffers, reading and writing
   fds, the install tree, the run dir and the exec of the bundled node. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "launcher.h"

#define MAX_MSG (64u << 20)

const char *prog = "vnode";

void die(int code, const char *fmt, const char *arg) {
  fprintf(stderr, "%s: ", prog);
  fprintf(stderr, fmt, arg ? arg : "");
  fputc('\n', stderr);
  exit(code);
}

/* ---------- growable buffer ---------- */
void buf_put(struct buf *b, const void *data, size_t n) {
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

void buf_u32(struct buf *b, uint32_t v) {
  unsigned char le[4] = {v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >> 24) & 0xff};
  buf_put(b, le, 4);
}

void buf_str(struct buf *b, const char *s, size_t n) {
  buf_u32(b, (uint32_t)n);
  buf_put(b, s, n);
}

int write_all(int fd, const char *p, size_t n) {
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

void read_fd_all(int fd, struct buf *b) {
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
char tree[PATH_MAX];

void find_tree(void) {
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

const char *run_dir(void) {
  const char *d = getenv("VNODE_RUN_DIR");
  return d && *d ? d : "/run/vnode";
}

void exec_node(const char *entry, int argc, char **argv) {
  char node[PATH_MAX], mainjs[PATH_MAX];
  snprintf(node, sizeof node, "%s/lib/node", tree);
  snprintf(mainjs, sizeof mainjs, "%s/lib/app/agent/main.js", tree);
  if (access(node, X_OK) != 0) snprintf(node, sizeof node, "node"); /* dev tree: node from PATH */
  char **args = calloc((size_t)argc + 6, sizeof(char *));
  if (!args) die(70, "out of memory%s", NULL);
  int i = 0;
  args[i++] = node;
  args[i++] = "--enable-source-maps";
  /* The manager's main thread allocates short-lived objects per request: 1 MiB semi-spaces (V8
     grows them to 16 MiB) keep its young generation's resident pages small (agent/common/
     workerLimits.ts does the same for its worker threads; BENCH manager-memory). */
  if (strcmp(entry, "vnode-manager") == 0) args[i++] = "--max-semi-space-size=1";
  /* V8's short builtin calls copy its embedded builtins (~0.9 MiB resident) next to each isolate's
     code, and the manager runs five isolates (main, two vnodefs and two seccomp workers): without
     them builtins are called through a longer jump from the one copy in this binary. */
  if (strcmp(entry, "vnode-manager") == 0) args[i++] = "--no-short-builtin-calls";
  args[i++] = mainjs;
  for (int a = 1; a < argc; a++) args[i++] = argv[a];
  args[i] = NULL;
  setenv("VNODE_ENTRY", entry, 1);
  execvp(node, args);
  die(70, "cannot exec node: %s", strerror(errno));
}
