/* chaosload: what a node agent in a vNode does all day, counted. Loops over reads of vnodefs'
 * files (open-read-close, and pread on fds kept open across the loop) and the syscalls the
 * manager answers (sysinfo, sched_getaffinity), and keeps in STATFILE:
 *   iter=<loops> fail=<failed operations> maxus=<longest single operation, us> last=<errno:what>
 * rewritten every 100 ms and at SIGTERM (SIGUSR1 starts the counts again), pausing PAUSE_US between loops (an agent, not a flood:
 * a flood is throttled by the vNode's CPU budget, docs/seccomp.md). Built statically by
 * e2e/chaos.test.ts and bench/managerRestart.bench.ts. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

static const char *files[] = {"/proc/meminfo", "/proc/uptime", "/proc/stat", "/proc/loadavg", "/sys/devices/system/cpu/online"};
#define NFILES (sizeof files / sizeof files[0])

static unsigned long iter, fails, maxus;
static char last[160] = "-";
static const char *statfile;
static volatile sig_atomic_t stop;

static unsigned long now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (unsigned long)t.tv_sec * 1000000UL + (unsigned long)t.tv_nsec / 1000UL;
}

static void failed(const char *what) {
  fails++;
  snprintf(last, sizeof last, "%d:%s", errno, what);
}

static void timed(unsigned long t0) {
  unsigned long d = now_us() - t0;
  if (d > maxus) maxus = d;
}

/* Written beside and renamed over: a reader (the test's `cat`) never sees the file truncated. */
static void save(void) {
  char line[256], tmp[4096];
  int n = snprintf(line, sizeof line, "iter=%lu fail=%lu maxus=%lu last=%s\n", iter, fails, maxus, last);
  snprintf(tmp, sizeof tmp, "%s.new", statfile);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return;
  int ok = write(fd, line, (size_t)n) == n;
  close(fd);
  if (ok) rename(tmp, statfile);
}

static void on_term(int s) { (void)s; stop = 1; }

/* SIGUSR1: a new measuring window (the counts and the longest operation start again). */
static volatile sig_atomic_t reset;
static void on_usr1(int s) { (void)s; reset = 1; }

int main(int argc, char **argv) {
  if (argc != 2 && argc != 3) {
    fprintf(stderr, "usage: chaosload STATFILE [PAUSE_US]\n");
    return 2;
  }
  statfile = argv[1];
  long pause_us = argc == 3 ? atol(argv[2]) : 0;
  signal(SIGTERM, on_term);
  signal(SIGUSR1, on_usr1);
  char buf[65536];
  int kept[NFILES];
  for (size_t i = 0; i < NFILES; i++) kept[i] = open(files[i], O_RDONLY);
  unsigned long saved = 0;
  while (!stop) {
    if (reset) {
      reset = 0;
      iter = fails = maxus = 0;
      snprintf(last, sizeof last, "-");
    }
    for (size_t i = 0; i < NFILES; i++) {
      unsigned long t0 = now_us();
      int fd = open(files[i], O_RDONLY);
      if (fd < 0) failed(files[i]);
      else {
        if (read(fd, buf, sizeof buf) <= 0) failed(files[i]);
        close(fd);
      }
      timed(t0);
      t0 = now_us();
      if (kept[i] < 0 || pread(kept[i], buf, sizeof buf, 0) <= 0) failed("pread on a kept fd");
      timed(t0);
    }
    struct sysinfo si;
    unsigned long t0 = now_us();
    if (sysinfo(&si) != 0 || si.totalram == 0) failed("sysinfo");
    timed(t0);
    cpu_set_t set;
    t0 = now_us();
    if (sched_getaffinity(0, sizeof set, &set) != 0 || CPU_COUNT(&set) == 0) failed("sched_getaffinity");
    timed(t0);
    iter++;
    if (pause_us > 0) usleep((useconds_t)pause_us);
    if (now_us() - saved > 100000) {
      save();
      saved = now_us();
    }
  }
  save();
  return 0;
}
