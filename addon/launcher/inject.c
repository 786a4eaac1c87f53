#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launcher.h"

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

int inject_main(int argc, char **argv) {
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
