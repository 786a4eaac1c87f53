/* The floor of a seccomp user-notification round trip on this machine: the peer of
 * `BENCH seccomp-intercepted-rtt`. A child installs a filter that traps mknodat only and hands its
 * listener to the parent; the parent serves it the way an event-loop server must (epoll_wait for
 * readiness, NOTIF_RECV, NOTIF_SEND with CONTINUE, SYNC_WAKE_UP set as the agent sets it), with
 * no work in between. The child times N mknodat calls of an existing FIFO (EEXIST from the kernel
 * after CONTINUE, as notifyload's rtt mode does inside a vNode).
 *   notifyFloor DIR N   ->   "floor n=N median_ns=.. mean_ns=.."
 * Needs no privilege (no_new_privs); DIR must be writable (the FIFO is made there and removed). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void die(const char *what) {
  fprintf(stderr, "notifyFloor: %s: %s\n", what, strerror(errno));
  exit(1);
}

/* The child: filter, hand the listener over, wait for the go, time the calls. */
static int caller(int sock, const char *fifo, long n) {
  struct sock_filter f[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mknodat, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {sizeof f / sizeof f[0], f};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) die("no_new_privs");
  int fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
  if (fd < 0) die("seccomp");
  char byte = 0;
  struct iovec io = {&byte, 1};
  char control[CMSG_SPACE(sizeof(int))];
  memset(control, 0, sizeof control);
  struct msghdr m = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
  struct cmsghdr *c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof fd);
  if (sendmsg(sock, &m, 0) != 1) die("sendmsg");
  close(fd);
  if (read(sock, &byte, 1) != 1) die("read go");
  double *v = malloc(sizeof(double) * n), total = 0;
  if (!v) die("malloc");
  for (long i = 0; i < n / 10 + 1; i++) syscall(SYS_mknodat, AT_FDCWD, fifo, S_IFIFO | 0600, 0); /* warm up */
  for (long i = 0; i < n; i++) {
    double t0 = now_ns();
    long r = syscall(SYS_mknodat, AT_FDCWD, fifo, S_IFIFO | 0600, 0);
    v[i] = now_ns() - t0;
    total += v[i];
    if (!(r < 0 && errno == EEXIST)) {
      fprintf(stderr, "notifyFloor: mknodat gave %ld errno %d, want EEXIST\n", r, errno);
      return 1;
    }
  }
  qsort(v, n, sizeof *v, by_value);
  printf("floor n=%ld median_ns=%.0f mean_ns=%.0f\n", n, v[n / 2], total / n);
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: notifyFloor DIR N\n");
    return 2;
  }
  long n = atol(argv[2]);
  if (n <= 0) return 2;
  char fifo[4096];
  snprintf(fifo, sizeof fifo, "%s/notifyFloor.fifo", argv[1]);
  unlink(fifo);
  if (mkfifo(fifo, 0600) != 0) die("mkfifo");
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) die("socketpair");
  fflush(stdout);
  pid_t child = fork();
  if (child < 0) die("fork");
  if (child == 0) {
    close(sv[0]);
    exit(caller(sv[1], fifo, n));
  }
  close(sv[1]);
  char byte;
  struct iovec io = {&byte, 1};
  char control[CMSG_SPACE(sizeof(int))];
  struct msghdr m = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
  if (recvmsg(sv[0], &m, 0) != 1 || !CMSG_FIRSTHDR(&m)) die("recvmsg");
  int fd;
  memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof fd);
  /* Kernels before 6.6 lack the flag: the floor is then the plain wake-up, as the agent's is. */
  ioctl(fd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event want = {.events = EPOLLIN, .data.fd = fd};
  if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &want) != 0) die("epoll");
  if (write(sv[0], "g", 1) != 1) die("write go");
  for (;;) {
    struct epoll_event ev;
    int r = epoll_wait(ep, &ev, 1, -1);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) die("epoll_wait");
    if (!(ev.events & EPOLLIN)) break; /* hung up: the child is gone */
    struct seccomp_notif req;
    memset(&req, 0, sizeof req);
    if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, &req) != 0) {
      if (errno == ENOENT || errno == EINTR) continue;
      die("NOTIF_RECV");
    }
    struct seccomp_notif_resp resp;
    memset(&resp, 0, sizeof resp);
    resp.id = req.id;
    resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
    if (ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &resp) != 0 && errno != ENOENT) die("NOTIF_SEND");
  }
  int status = 0;
  waitpid(child, &status, 0);
  unlink(fifo);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
