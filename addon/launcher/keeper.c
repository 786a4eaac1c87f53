// vnode-keeper: holds file descriptors for the vnode-manager so they outlive it (issue 14).
//
//   vnode-keeper [--detach] RUNDIR
//
// Listens on RUNDIR/keeper.sock (SOCK_SEQPACKET, mode 0600, only uid 0 peers by SO_PEERCRED) and
// keeps named fds in memory. It never reads, writes or opens anything a client names: it only
// holds the descriptors. One request per packet, first byte the operation:
//
//   'P' NAME + one fd (SCM_RIGHTS)  put: keep the fd under NAME (an entry of that name is replaced)
//                                   -> "O"
//   'D' NAME                        drop: close the entry -> "O1" (it was there) or "O0"
//   'L' [PREFIX]                    list: one packet 'I' NAME with its fd per entry whose name
//                                   starts with PREFIX, then "Z" (the keeper keeps its copies)
//   'X'                             exit if no entry is kept -> "O" then exit, or "Ebusy N"
//   'F'                             forced exit: "O", every fd closed, exit
//
// NAME is 1..4096 bytes, no NUL. Anything else (an unknown operation, a name too long or empty,
// fds where none belong, a truncated packet) closes that connection and the fds it sent; the
// keeper goes on. At most 64 connections and 65536 entries. SIGTERM/SIGINT: exit (every fd closed).
// A flock'd pidfile RUNDIR/keeper.pid makes a second keeper for RUNDIR exit 3. With --detach it
// double-forks into its own session (stdio /dev/null) and the starting process exits 0 once the
// socket listens (printing the keeper's pid), or non-zero with the reason on stderr.
// Single-threaded: one poll loop.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define NAME_MAX_LEN 4096
#define MAX_CONNS 64
#define MAX_ENTRIES 65536
#define SEND_TIMEOUT_S 2

struct entry {
  char *name;
  size_t len;
  int fd;
};

static struct entry *entries;
static size_t n_entries, cap_entries;
static char sock_path[PATH_MAX], pid_path[PATH_MAX];
static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

static struct entry *find(const char *name, size_t len) {
  for (size_t i = 0; i < n_entries; i++)
    if (entries[i].len == len && memcmp(entries[i].name, name, len) == 0) return &entries[i];
  return NULL;
}

static int put(const char *name, size_t len, int fd) {
  struct entry *e = find(name, len);
  if (e) {
    close(e->fd);
    e->fd = fd;
    return 0;
  }
  if (n_entries >= MAX_ENTRIES) return -1;
  if (n_entries == cap_entries) {
    size_t c = cap_entries ? cap_entries * 2 : 64;
    struct entry *ne = realloc(entries, c * sizeof *ne);
    if (!ne) return -1;
    entries = ne;
    cap_entries = c;
  }
  char *copy = malloc(len);
  if (!copy) return -1;
  memcpy(copy, name, len);
  entries[n_entries++] = (struct entry){copy, len, fd};
  return 0;
}

static int drop(const char *name, size_t len) {
  struct entry *e = find(name, len);
  if (!e) return 0;
  close(e->fd);
  free(e->name);
  *e = entries[--n_entries];
  return 1;
}

static void drop_all(void) {
  for (size_t i = 0; i < n_entries; i++) {
    close(entries[i].fd);
    free(entries[i].name);
  }
  n_entries = 0;
}

// One packet, with at most one fd. Returns 0 or -1 (connection to be closed).
static int send_packet(int c, const char *buf, size_t len, int fd) {
  struct iovec iov = {(void *)buf, len};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } ctl;
  if (fd >= 0) {
    memset(&ctl, 0, sizeof ctl);
    msg.msg_control = ctl.buf;
    msg.msg_controllen = sizeof ctl.buf;
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof fd);
  }
  for (;;) {
    ssize_t n = sendmsg(c, &msg, MSG_NOSIGNAL);
    if (n == (ssize_t)len) return 0;
    if (n < 0 && errno == EINTR) continue;
    return -1;  // EAGAIN here is SO_SNDTIMEO: a client that does not read its answers
  }
}

static int reply(int c, const char *s) { return send_packet(c, s, strlen(s), -1); }

// Handles one readable connection. Returns 0 to keep it, -1 to close it, 1 to exit the keeper.
static int serve(int c) {
  static char buf[1 + NAME_MAX_LEN + 1];
  union {
    char buf[CMSG_SPACE(sizeof(int) * 8)];
    struct cmsghdr align;
  } ctl;
  struct iovec iov = {buf, sizeof buf};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
  ssize_t n;
  do n = recvmsg(c, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0) return (errno == EAGAIN) ? 0 : -1;
  int fds[8];
  int nfds = 0;
  for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
    if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
    size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < k && nfds < 8; i++) memcpy(&fds[nfds++], CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
  }
  if (n == 0) goto bad;  // EOF (or an empty packet)
  if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) goto bad;
  char op = buf[0];
  const char *name = buf + 1;
  size_t len = (size_t)n - 1;
  if (len > NAME_MAX_LEN || memchr(name, '\0', len)) goto bad;
  switch (op) {
    case 'P':
      if (nfds != 1 || len == 0) goto bad;
      if (put(name, len, fds[0]) != 0) {
        close(fds[0]);
        return reply(c, "Efull");
      }
      return reply(c, "O");
    case 'D':
      if (nfds || len == 0) goto bad;
      return reply(c, drop(name, len) ? "O1" : "O0");
    case 'L': {
      if (nfds) goto bad;
      static char out[1 + NAME_MAX_LEN];
      for (size_t i = 0; i < n_entries; i++) {
        if (entries[i].len < len || memcmp(entries[i].name, name, len) != 0) continue;
        out[0] = 'I';
        memcpy(out + 1, entries[i].name, entries[i].len);
        if (send_packet(c, out, entries[i].len + 1, entries[i].fd) != 0) return -1;
      }
      return reply(c, "Z");
    }
    case 'X':
      if (nfds || len) goto bad;
      if (n_entries) {
        char b[32];
        snprintf(b, sizeof b, "Ebusy %zu", n_entries);
        return reply(c, b);
      }
      reply(c, "O");
      return 1;
    case 'F':
      if (nfds || len) goto bad;
      reply(c, "O");
      return 1;
    default:
      goto bad;
  }
bad:
  for (int i = 0; i < nfds; i++) close(fds[i]);
  return -1;
}

static void cleanup_files(void) {
  // The lock is still ours: a new keeper cannot have bound a socket yet.
  unlink(sock_path);
  unlink(pid_path);
}

static int die(int wfd, int code, const char *what) {
  char b[512];
  int len = snprintf(b, sizeof b, "vnode-keeper: %s: %s\n", what, strerror(errno));
  if (wfd >= 0) {
    if (write(wfd, b, (size_t)len) < 0) {}
  } else if (write(2, b, (size_t)len) < 0) {
  }
  return code;
}

static int run(const char *run_dir, int ready_fd) {
  umask(077);
  int pfd = open(pid_path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (pfd < 0) return die(ready_fd, 1, pid_path);
  if (flock(pfd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      errno = EEXIST;
      return die(ready_fd, 3, "another vnode-keeper runs for this run dir");
    }
    return die(ready_fd, 1, "flock");
  }
  char pidbuf[32];
  int pl = snprintf(pidbuf, sizeof pidbuf, "%d\n", getpid());
  if (ftruncate(pfd, 0) != 0 || pwrite(pfd, pidbuf, (size_t)pl, 0) != pl) return die(ready_fd, 1, "pidfile write");

  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(sock_path) >= sizeof sa.sun_path) {
    errno = ENAMETOOLONG;
    return die(ready_fd, 1, sock_path);
  }
  strcpy(sa.sun_path, sock_path);
  int lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (lfd < 0) return die(ready_fd, 1, "socket");
  unlink(sock_path);  // a stale socket of a dead keeper (we hold the lock)
  umask(0177);  // the socket is made 0600
  if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0) return die(ready_fd, 1, "bind");
  umask(077);
  if (listen(lfd, 64) != 0) return die(ready_fd, 1, "listen");
  (void)run_dir;

  struct sigaction act = {.sa_handler = on_signal};
  sigaction(SIGTERM, &act, NULL);
  sigaction(SIGINT, &act, NULL);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  // The keeper is small and its loss costs every held fd: the OOM killer takes others first.
  int oom = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  if (oom >= 0) {
    if (write(oom, "-998", 4) < 0) {}
    close(oom);
  }

  if (ready_fd >= 0) {
    if (write(ready_fd, pidbuf, (size_t)pl) < 0) {}
    close(ready_fd);
  }

  struct pollfd pfds[1 + MAX_CONNS];
  int conns[MAX_CONNS];
  int nconns = 0;
  int code = 0;
  while (!stop_requested) {
    pfds[0] = (struct pollfd){.fd = lfd, .events = nconns < MAX_CONNS ? POLLIN : 0};
    for (int i = 0; i < nconns; i++) pfds[1 + i] = (struct pollfd){.fd = conns[i], .events = POLLIN};
    int r = poll(pfds, (nfds_t)(1 + nconns), -1);
    if (r < 0) {
      if (errno == EINTR) continue;
      code = 1;
      break;
    }
    int exiting = 0;
    for (int i = nconns - 1; i >= 0; i--) {
      if (!pfds[1 + i].revents) continue;
      int s = (pfds[1 + i].revents & POLLIN) ? serve(conns[i]) : -1;
      if (s == 1) exiting = 1;
      if (s != 0) {
        close(conns[i]);
        conns[i] = conns[--nconns];
      }
    }
    if (exiting) break;
    if (pfds[0].revents & POLLIN) {
      while (nconns < MAX_CONNS) {
        int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) break;  // EAGAIN, or an error we leave for the next turn
        struct ucred cr;
        socklen_t cl = sizeof cr;
        if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cr, &cl) != 0 || cr.uid != 0) {
          close(c);
          continue;
        }
        // Blocking sends bounded by a timeout, so a client that stops reading costs 2 s, not the keeper.
        struct timeval tv = {.tv_sec = SEND_TIMEOUT_S};
        setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        conns[nconns++] = c;
      }
    }
  }
  for (int i = 0; i < nconns; i++) close(conns[i]);
  drop_all();
  cleanup_files();
  close(lfd);
  close(pfd);
  return code;
}

int main(int argc, char **argv) {
  int detach = 0;
  const char *run_dir = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--detach") == 0) detach = 1;
    else if (argv[i][0] == '-' || run_dir) {
      fprintf(stderr, "usage: vnode-keeper [--detach] RUNDIR\n");
      return 2;
    } else run_dir = argv[i];
  }
  if (!run_dir || run_dir[0] != '/') {
    fprintf(stderr, "usage: vnode-keeper [--detach] RUNDIR (an absolute path)\n");
    return 2;
  }
  // Nothing of the starter's leaks into a process that lives for days.
  syscall(SYS_close_range, 3, ~0U, 0);
  if (snprintf(sock_path, sizeof sock_path, "%s/keeper.sock", run_dir) >= (int)sizeof sock_path ||
      snprintf(pid_path, sizeof pid_path, "%s/keeper.pid", run_dir) >= (int)sizeof pid_path) {
    fprintf(stderr, "vnode-keeper: run dir path too long\n");
    return 2;
  }
  if (!detach) {
    if (chdir("/") != 0) {}
    return run(run_dir, -1);
  }
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return die(-1, 1, "pipe");
  pid_t child = fork();
  if (child < 0) return die(-1, 1, "fork");
  if (child == 0) {
    close(p[0]);
    setsid();
    pid_t g = fork();
    if (g < 0) _exit(die(p[1], 1, "fork"));
    if (g > 0) _exit(0);
    if (chdir("/") != 0) {}
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
      dup2(null, 0);
      dup2(null, 1);
      dup2(null, 2);
      if (null > 2) close(null);
    }
    _exit(run(run_dir, p[1]));
  }
  close(p[1]);
  int st;
  while (waitpid(child, &st, 0) < 0 && errno == EINTR) {}
  char b[600];
  ssize_t n, off = 0;
  while (off < (ssize_t)sizeof b - 1 && (n = read(p[0], b + off, sizeof b - 1 - (size_t)off)) != 0) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    off += n;
  }
  b[off] = '\0';
  if (off > 0 && b[0] >= '0' && b[0] <= '9') {
    fputs(b, stdout);
    return 0;
  }
  if (off == 0) {
    fprintf(stderr, "vnode-keeper: the keeper exited before listening\n");
    return 1;
  }
  fputs(b, stderr);
  return strstr(b, "another vnode-keeper") ? 3 : 1;
}
