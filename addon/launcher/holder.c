#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launcher.h"

/* ---------- vnode-holder: pid 1 of a vNode ----------
 * vnode-holder [--hostname NAME] [--root DIR] [--commit]
 * Started by the manager's clone (addon/src/holder.cc) as root of a fresh user namespace, in new
 * pid, mount, uts, ipc, net and cgroup namespaces, with a control socket on fd 3. It sets the
 * hostname, makes every mount private, pivots into DIR (an empty directory: nothing of the host
 * stays visible in the vNode's mount namespace), answers "R" on fd 3 (or "E<message>" and exits),
 * and with --commit waits for "C": if the manager dies before recording this holder, fd 3 reads
 * EOF and the holder exits, so no holder outlives a manager that never knew about it. Then it
 * reaps every process that re-parents to it until the manager SIGKILLs it. It has no handler for
 * SIGTERM or SIGINT: as pid 1 of the vNode's pid namespace, which every pod's pid namespace is
 * nested in (runc/vnode-pidns.patch), its end is the end of every pod of the vNode, so a signal
 * from inside the vNode (a hostPID pod's `kill -TERM 1`) must find no handler and be dropped by
 * the kernel, as for any pid 1 without one. */
static void on_chld(int sig) { (void)sig; }

static void holder_fail(int ctl, const char *what, int err) {
  char msg[512];
  int n = snprintf(msg, sizeof msg, "E%s: %s", what, strerror(err));
  if (ctl >= 0 && n > 0 && write(ctl, msg, (size_t)n) < 0) { /* nobody listens: nothing to tell */ }
  _exit(1);
}

int holder_main(int argc, char **argv) {
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
  /* The manager clones us with every signal blocked (addon/src/holder.cc): unblocked here. */
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
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
      while (n < 0 && errno == EINTR);
      if (n != 1 || c != 'C') _exit(0); /* the manager never recorded us */
    }
    close(ctl);
  }
  /* Reap every child that re-parents to us (we are the vNode's pid 1). Signals are blocked
     except inside sigsuspend, so a SIGCHLD between the reap and the wait is never lost. */
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGCHLD);
  sigprocmask(SIG_BLOCK, &block, &old);
  for (;;) {
    int st;
    while (waitpid(-1, &st, WNOHANG) > 0) {
    }
    sigsuspend(&old);
  }
}
