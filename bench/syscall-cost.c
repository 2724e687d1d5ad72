// The kernel's share of edgeloop's per-call cost: nanoseconds per recv()
// that finds nothing (EAGAIN) and per epoll_wait(0) with nothing ready, from
// C. bench/crossing.js measures the same calls through edgeloop; the
// difference is what the N-API crossing and the JavaScript around it add.
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
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
  printf("{\"recv_eagain_ns\":%.1f,\"epoll_wait_empty_ns\":%.1f}\n", recv_ns, wait_ns);
  return 0;
}
