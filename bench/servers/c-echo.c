// The physical-limit reference: a single-threaded, edge-triggered epoll echo
// server in C. TCP_NODELAY on every connection, reads drained to EAGAIN,
// unsent bytes kept per connection (and reading paused while they wait).
//
//   c-echo PORT [HOST]      prints "listening PORT" once ready
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
  int fd;
  char *pending;
  size_t len, off;
} conn_t;

static char buf[65536];

static void drop(int ep, conn_t *c) {
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  free(c->pending);
  free(c);
}

/* Returns 0 when everything pending was written, 1 when some is left, -1 on error. */
static int flush(conn_t *c) {
  while (c->off < c->len) {
    ssize_t n = send(c->fd, c->pending + c->off, c->len - c->off, MSG_NOSIGNAL);
    if (n < 0) return errno == EAGAIN ? 1 : -1;
    c->off += (size_t)n;
  }
  c->len = c->off = 0;
  return 0;
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  int port = argc > 1 ? atoi(argv[1]) : 7100;
  const char *host = argc > 2 ? argv[2] : "127.0.0.1";
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, host, &sa.sin_addr);
  if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 4096) < 0) {
    perror("c-echo: bind/listen");
    return 1;
  }
  socklen_t sl = sizeof sa;
  getsockname(lfd, (struct sockaddr *)&sa, &sl);
  printf("listening %d\n", ntohs(sa.sin_port));
  fflush(stdout);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  struct epoll_event evs[1024];
  for (;;) {
    int n = epoll_wait(ep, evs, 1024, -1);
    if (n < 0 && errno == EINTR) continue;
    for (int i = 0; i < n; i++) {
      conn_t *c = evs[i].data.ptr;
      if (c == NULL) {
        for (;;) {
          int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (fd < 0) break;
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          conn_t *nc = calloc(1, sizeof *nc);
          nc->fd = fd;
          struct epoll_event e = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = nc};
          epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
        }
        continue;
      }
      int state = flush(c);
      if (state < 0) { drop(ep, c); continue; }
      if (state > 0) continue; /* wait for EPOLLOUT before reading more */
      for (;;) {
        ssize_t r = recv(c->fd, buf, sizeof buf, 0);
        if (r < 0 && errno == EAGAIN) break;
        if (r <= 0) { drop(ep, c); c = NULL; break; }
        ssize_t w = send(c->fd, buf, (size_t)r, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN) { drop(ep, c); c = NULL; break; }
        if (w < 0) w = 0;
        if (w < r) {
          c->pending = realloc(c->pending, (size_t)(r - w));
          memcpy(c->pending, buf + w, (size_t)(r - w));
          c->len = (size_t)(r - w);
          c->off = 0;
          break;
        }
      }
    }
  }
}
