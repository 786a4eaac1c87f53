/* vnode-runc (the launcher started as `runc` or `vnode-runc`) and containerd-shim-vnode-v2's exec
   of the tree's runc shim whose runc it is (docs/shim.md). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "launcher.h"

/* Which runc the vnode runtime runs: $VNODE_RUNC, else the install tree's, else NULL. The one
   place that decides: it is put in VNODE_RUNC for the manager (runc_main, the shim's -info), which
   answers with that path. */
const char *runc_path(void) {
  static char path[PATH_MAX];
  const char *runc = getenv("VNODE_RUNC");
  if (runc && *runc) return runc;
  snprintf(path, sizeof path, "%s/bin/runc", tree);
  return access(path, X_OK) == 0 ? path : NULL;
}

__attribute__((noreturn)) static void exec_runc(char **argv) {
  const char *runc = runc_path();
  if (!runc) {
    if (strcmp(prog, "runc") == 0) die(127, "no runc to run (set VNODE_RUNC or install %s/bin/runc)", tree); /* "runc" in PATH is us */
    runc = "runc";
  }
  argv[0] = (char *)runc;
  execvp(runc, argv);
  die(127, "cannot exec runc: %s", strerror(errno));
}

/* runc's global flags that take their value as the next word (runc 1.1). The one place that
   knows them: a forwarded call tells the manager where the command is (VNODE_RUNC_COMMAND_AT). */
static int takes_value(const char *flag) {
  return strcmp(flag, "--root") == 0 || strcmp(flag, "--log") == 0 || strcmp(flag, "--log-format") == 0 || strcmp(flag, "--criu") == 0 ||
         strcmp(flag, "--rootless") == 0;
}

/* Where the runc command is in a runc command line (the first word after runc's global flags),
   or -1. */
static int runc_command_at(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (argv[i][0] != '-') return i;
    if (takes_value(argv[i])) i++;
  }
  return -1;
}

/* The runc command in a runc command line. */
const char *runc_command(int argc, char **argv) {
  int at = runc_command_at(argc, argv);
  return at < 0 ? NULL : argv[at];
}

int runc_command_is(int argc, char **argv, const char *cmd) {
  const char *c = runc_command(argc, argv);
  return c && strcmp(c, cmd) == 0;
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
    if (!v) {
      if (takes_value(argv[i])) i++; /* `--log X`: X is no command */
      continue;
    }
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

/* Whether the manager marked this `runc start ID` as needing nothing of it: <runDir>/start-ready/ID
   exists once a container's /proc/sys binds were made during its create and it has no cgroup to
   be delegated (agent/pods/VNodePods.ts, markStartReady). Only ids containerd makes are looked up. */
static int start_ready(int argc, char **argv) {
  const char *id = argc > 1 ? argv[argc - 1] : "";
  size_t n = strlen(id);
  if (n == 0 || n > 128 || id[0] == '.' || id[0] == '-') return 0;
  for (size_t i = 0; i < n; i++) {
    char c = id[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.')) return 0;
  }
  char path[PATH_MAX];
  int w = snprintf(path, sizeof path, "%s/start-ready/%s", run_dir(), id);
  return w > 0 && (size_t)w < sizeof path && access(path, F_OK) == 0;
}

/* vnode-runc: the whole of what the launcher does as runc; never returns. */
void runc_main(int argc, char **argv) {
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
    /* A start the manager has nothing left to do for goes straight to runc (one round trip less
       on every container's start). */
    if (strstr(hooked, want) && !(strcmp(cmd, "start") == 0 && start_ready(argc, argv))) {
      /* The manager splits the command line here (agent/pods/runcHook.ts): one grammar; and it
         runs the runc this launcher would. */
      char at[16];
      snprintf(at, sizeof at, "%d", runc_command_at(argc, argv));
      setenv("VNODE_RUNC_COMMAND_AT", at, 1);
      const char *runc = runc_path();
      if (!runc) die(127, "no runc to run (set VNODE_RUNC or install %s/bin/runc)", tree);
      setenv("VNODE_RUNC", runc, 1);
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

/* Whether the running manager takes `feature` (<runDir>/features: "<pid> <feature>...", written
   by each manager at its start): the pid must be alive, so a file left by a manager that is gone,
   or by a newer one before a downgrade, says nothing. */
static int manager_feature(const char *feature) {
  char path[PATH_MAX], buf[256];
  snprintf(path, sizeof path, "%s/features", run_dir());
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  char *end;
  long pid = strtol(buf, &end, 10);
  if (pid <= 0 || end == buf || (kill((pid_t)pid, 0) != 0 && errno != EPERM)) return 0;
  for (char *w = strtok(end, " \n"); w; w = strtok(NULL, " \n"))
    if (strcmp(w, feature) == 0) return 1;
  return 0;
}

/* Runs the tree's containerd-shim-runc-v2 (Debian's, patched: docs/shim.md) with the same
   arguments, stdin and cwd. Its runc (found by name in PATH, as containerd sends no runc options
   for this runtime) is vnode-runc, which hands create, start and delete to the manager. The shim
   daemon that `start` forks inherits this environment, and so does every runc it runs. */
void shim_exec(char **argv) {
  char shim[PATH_MAX], dir[PATH_MAX];
  snprintf(shim, sizeof shim, "%s/bin/containerd-shim-runc-v2", tree);
  snprintf(dir, sizeof dir, "%s/lib/runc-path", tree);
  const char *runc = runc_path();
  if (!runc) die(127, "no runc in the install tree (%s/bin/runc)", tree);
  const char *old = getenv("PATH");
  size_t n = strlen(dir) + (old ? strlen(old) : 0) + 2;
  char *path = malloc(n);
  if (!path) die(70, "out of memory%s", NULL);
  snprintf(path, n, "%s%s%s", dir, old && *old ? ":" : "", old ? old : "");
  setenv("PATH", path, 1);
  setenv("VNODE_RUNC", runc, 1);
  setenv("VNODE_RUNC_HOOKED", ",create,start,delete,", 1);
  /* The tree's shim (shim/go-runc/vnode-direct.patch) runs VNODE_RUNC itself for the commands
     not hooked and for a start marked ready, with the command line runc_main would make: one
     exec of this launcher less per call. */
  setenv("VNODE_RUNC_DIRECT", "1", 1);
  /* The tree's shim (shim/vnode-rootfs-mounts.patch) leaves a container's overlay to a manager
     that mounts it itself, with idmapped layers, instead of mounting containerd's only for the
     manager to unmount it (an overlay's unmount syncs its upper's whole file system). */
  if (manager_feature("rootfs-mounts")) setenv("VNODE_ROOTFS_MOUNTS", "1", 1);
  else unsetenv("VNODE_ROOTFS_MOUNTS");
  argv[0] = "containerd-shim-runc-v2";
  execv(shim, argv);
  die(127, "cannot exec the runc shim %s", shim);
}
