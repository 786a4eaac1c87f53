// Reader for bench/vnodefs.bench.ts and bench/flood.bench.ts: open+read+close of one file in a
// loop, so the bench measures the filesystem and not the reader; FILE `sysinfo` calls sysinfo(2)
// instead (intercepted in a vNode). Usage: vnodefsReader FILE SECONDS [latency [INTERVAL_US]]:
// with INTERVAL_US, one call every INTERVAL_US (a light workload's latency, not a loop's).
// Prints "reads=<n> median_ns=<m> p99_ns=<p>" (latencies only when asked; they cost a clock read).
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/sysinfo.h>
#include <unistd.h>

static long long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int cmp(const void* a, const void* b) {
  long long x = *(const long long*)a, y = *(const long long*)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s FILE SECONDS [latency]\n", argv[0]);
    return 2;
  }
  const char* file = argv[1];
  double secs = atof(argv[2]);
  int lat = argc > 3;
  long interval_us = argc > 4 ? atol(argv[4]) : 0;
  int sys = strcmp(file, "sysinfo") == 0;
  static char buf[65536];
  size_t cap = 1 << 20, n = 0;
  long long* samples = lat ? malloc(cap * sizeof(long long)) : NULL;
  long long end = now_ns() + (long long)(secs * 1e9);
  long long reads = 0, bytes = 0;
  for (;;) {
    if (interval_us > 0 && reads > 0) usleep((useconds_t)interval_us);
    long long t0 = now_ns();
    if (t0 >= end) break;
    if (sys) {
      struct sysinfo si;
      if (sysinfo(&si) != 0) {
        perror("sysinfo");
        return 1;
      }
      reads++;
      if (lat && n < cap) samples[n++] = now_ns() - t0;
      continue;
    }
    int fd = open(file, O_RDONLY);
    if (fd < 0) {
      perror(file);
      return 1;
    }
    ssize_t r;
    while ((r = read(fd, buf, sizeof buf)) > 0) bytes += r;
    if (r < 0) {
      perror("read");
      return 1;
    }
    close(fd);
    reads++;
    if (lat && n < cap) samples[n++] = now_ns() - t0;
  }
  if (lat && n) {
    qsort(samples, n, sizeof(long long), cmp);
    printf("reads=%lld bytes=%lld median_ns=%lld p99_ns=%lld max_ns=%lld\n", reads, bytes, samples[n / 2], samples[(n * 99) / 100], samples[n - 1]);
  } else {
    printf("reads=%lld bytes=%lld\n", reads, bytes);
  }
  return 0;
}
