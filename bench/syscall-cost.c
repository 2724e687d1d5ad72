// The kernel's share of edgeloop's per-call cost: nanoseconds per recv()
// that finds nothing (EAGAIN), per epoll_wait(0) with nothing ready, and per
// echo turn over 1, 10 and 100 ready Unix streams (epoll_wait, then a 64 B
// read and write on each), from C. bench/crossing.js measures the same work
// through edgeloop; the difference is what the N-API crossings and the
// JavaScript around them add.
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

// Nanoseconds of server work per turn with `n` streams ready: the peers'
// writes and reads happen outside the timed part, as in crossing.js.
static double ready_turn_ns(int n, int turns) {
  int server[100], peer[100];
  int ep = epoll_create1(0);
  for (int i = 0; i < n; i++) {
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
    server[i] = sv[0];
    peer[i] = sv[1];
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    epoll_ctl(ep, EPOLL_CTL_ADD, server[i], &ev);
  }
  char msg[64] = {0}, buf[65536];
  struct epoll_event out[128];
  double total = 0;
  for (int t = 0; t < turns; t++) {
    for (int i = 0; i < n; i++) (void)!write(peer[i], msg, sizeof msg);
    double t0 = now_ns();
    int got = epoll_wait(ep, out, 128, 0);
    for (int e = 0; e < got; e++) {
      int fd = server[out[e].data.u32];
      ssize_t r = read(fd, buf, sizeof buf);
      if (r > 0) (void)!write(fd, buf, (size_t)r);
    }
    total += now_ns() - t0;
    for (int i = 0; i < n; i++) (void)!read(peer[i], buf, sizeof buf);
  }
  for (int i = 0; i < n; i++) {
    close(server[i]);
    close(peer[i]);
  }
  close(ep);
  return total / turns;
}

int main(void) {
  enum { N = 1000000 };
  int sv[2];
  socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
  char buf[64];
  double t0 = now_ns();
  for (int i = 0; i < N; i++) recv(sv[0], buf, sizeof buf, 0);
  double recv_ns = (now_ns() - t0) / N;
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN}, out[64];
  epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev);
  t0 = now_ns();
  for (int i = 0; i < N; i++) epoll_wait(ep, out, 64, 0);
  double wait_ns = (now_ns() - t0) / N;
  double turn1 = ready_turn_ns(1, 200000), turn10 = ready_turn_ns(10, 50000),
         turn100 = ready_turn_ns(100, 5000);
  printf("{\"recv_eagain_ns\":%.1f,\"epoll_wait_empty_ns\":%.1f,"
         "\"turn_1_ns\":%.1f,\"turn_10_ns\":%.1f,\"turn_100_ns\":%.1f}\n",
         recv_ns, wait_ns, turn1, turn10, turn100);
  return 0;
}
