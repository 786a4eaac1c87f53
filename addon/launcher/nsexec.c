#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launcher.h"

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

int nsexec_main(int argc, char **argv) {
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
