// The physical-limit reference for ident (RFC 1413): a single-threaded epoll
// server in C that answers each "<server-port> , <client-port>" line with the
// owner of the TCP connection between this query connection's own addresses
// (IPv4) and those ports, found with one exact-match NETLINK_SOCK_DIAG request
// per query. One non-blocking netlink socket, in the same epoll set, carries
// every lookup; answers are matched by nlmsg_seq. Query connections are
// edge-triggered (a short read counts as drained), stay open for further
// queries and close on EOF; one query per connection is in flight at a time.
// Lines are at most 1000 bytes with their CR LF (a longer one is answered
// "0, 0 : ERROR : INVALID-PORT" and closes). No idle timer: idle connections
// are kept until the client closes. EMFILE pauses accepting for 100 ms.
//
//   c-identd PORT [HOST]    prints "listening PORT" once ready (HOST 127.0.0.1)
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXLINE 1000
#define INFLIGHT 64 /* queries in flight; at the cap the answers are read first */

typedef struct conn {
  int fd, readable, waiting, dead, queued;
  unsigned sport, cport;
  struct sockaddr_in local, peer;
  struct conn *next;
  size_t len;
  char buf[MAXLINE];
} conn_t;

static int ep, lfd, nlfd;
static char listener_tag, netlink_tag;
static conn_t *head, *tail; /* connections to pump */
static conn_t *slot[INFLIGHT];
static unsigned slot_seq[INFLIGHT], gen;
static int free_slots[INFLIGHT], nfree;
static struct { unsigned uid; int used; char reply[96]; } users[64]; /* "USERID : UNIX : name" */
static char nlbuf[65536];

static void quit(int sig) { (void)sig; _exit(0); }

static void push(conn_t *c) {
  if (c->queued) return;
  c->queued = 1;
  c->next = NULL;
  if (tail) tail->next = c; else head = c;
  tail = c;
}

static void reply(conn_t *c, const char *s, int n) {
  if (!c->dead && send(c->fd, s, (size_t)n, MSG_NOSIGNAL) != n) c->dead = 1; /* a client that does not read is dropped */
}

static const char *user(unsigned uid) {
  int i = uid % 64;
  if (!users[i].used || users[i].uid != uid) { /* the first time a uid is seen, or after a collision */
    struct passwd pw, *res = NULL;
    char tmp[4096];
    int err = getpwuid_r(uid, &pw, tmp, sizeof tmp, &res);
    if (err != 0 && err != ENOENT && err != ESRCH) return "ERROR : UNKNOWN-ERROR"; /* EMFILE, say: not cached */
    if (res && strlen(res->pw_name) < 64)
      snprintf(users[i].reply, sizeof users[i].reply, "USERID : UNIX : %s", res->pw_name);
    else
      snprintf(users[i].reply, sizeof users[i].reply, "USERID : UNIX : %u", uid); /* no passwd entry */
    users[i].uid = uid;
    users[i].used = 1;
  }
  return users[i].reply;
}

static void answer(conn_t *c, const char *what, int again) {
  char out[128];
  int n = snprintf(out, sizeof out, "%u, %u : %s\r\n", c->sport, c->cport, what);
  c->waiting = 0;
  reply(c, out, n);
  if (again) push(c); /* buffered lines and unread data wait for this answer */
}

static void release(int i) { slot[i] = NULL, free_slots[nfree++] = i; }

/* Reads every queued answer. Lookups are answered inside send(), so after an
   overrun (ENOBUFS) whatever is still unanswered at EAGAIN was dropped. */
static void nl_drain(void) {
  int overrun = 0;
  for (;;) {
    ssize_t r = recv(nlfd, nlbuf, sizeof nlbuf, 0);
    if (r < 0 && (errno == EINTR || errno == ENOBUFS)) { overrun |= errno == ENOBUFS; continue; }
    if (r <= 0) break;
    int left = (int)r;
    for (struct nlmsghdr *h = (struct nlmsghdr *)nlbuf; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
      int i = h->nlmsg_seq & 0xff;
      if (i >= INFLIGHT || slot[i] == NULL || slot_seq[i] != h->nlmsg_seq) continue;
      conn_t *c = slot[i];
      release(i);
      const char *what = "ERROR : NO-USER";
      if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY && h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct inet_diag_msg))) {
        struct inet_diag_msg *m = NLMSG_DATA(h);
        if (m->id.idiag_sport == htons(c->sport) && m->id.idiag_dport == htons(c->cport) &&
            m->id.idiag_src[0] == c->local.sin_addr.s_addr && m->id.idiag_dst[0] == c->peer.sin_addr.s_addr)
          what = user(m->idiag_uid); /* else the kernel found the listener, or another socket */
      }
      answer(c, what, 1); /* NLMSG_ERROR (no such connection) is NO-USER too */
    }
  }
  if (overrun)
    for (int i = 0; i < INFLIGHT; i++)
      if (slot[i]) { conn_t *c = slot[i]; release(i); answer(c, "ERROR : NO-USER", 1); }
}

/* Returns 1 when the lookup is in flight, 0 when it was answered already. */
static int nl_query(conn_t *c) {
  if (nfree == 0) nl_drain();
  if (nfree == 0) { answer(c, "ERROR : NO-USER", 0); return 0; } /* c is being pumped: no push */
  int i = free_slots[--nfree];
  unsigned seq = (++gen << 8) | (unsigned)i; /* the low byte names the slot */
  struct { struct nlmsghdr h; struct inet_diag_req_v2 r; } q = {
    .h = {.nlmsg_len = sizeof q, .nlmsg_type = SOCK_DIAG_BY_FAMILY, .nlmsg_flags = NLM_F_REQUEST, .nlmsg_seq = seq},
    .r = {.sdiag_family = AF_INET, .sdiag_protocol = IPPROTO_TCP, .idiag_states = ~0u,
          .id = {.idiag_sport = htons(c->sport), .idiag_dport = htons(c->cport),
                 .idiag_src = {c->local.sin_addr.s_addr}, .idiag_dst = {c->peer.sin_addr.s_addr},
                 .idiag_cookie = {INET_DIAG_NOCOOKIE, INET_DIAG_NOCOOKIE}}}};
  if (send(nlfd, &q, sizeof q, 0) != (ssize_t)sizeof q) {
    free_slots[nfree++] = i;
    answer(c, "ERROR : UNKNOWN-ERROR", 0);
    return 0;
  }
  slot[i] = c;
  slot_seq[i] = seq;
  c->waiting = 1;
  return 1;
}

/* "<port> , <port>": spaces or tabs around, decimal 1..65535 only. */
static int parse_port(const char **p, const char *end, unsigned *out) {
  const char *s = *p;
  unsigned v = 0;
  int digits = 0;
  while (s < end && (*s == ' ' || *s == '\t')) s++;
  while (s < end && *s >= '0' && *s <= '9') {
    v = v * 10 + (unsigned)(*s++ - '0');
    if (++digits > 5 || v > 65535) return 0;
  }
  while (s < end && (*s == ' ' || *s == '\t')) s++;
  *p = s;
  *out = v;
  return digits > 0 && v > 0;
}

/* Handles one line (without its line end); returns 1 when a lookup is in flight. */
static int line(conn_t *c, const char *s, size_t n) {
  const char *p = s, *end = s + n;
  if (parse_port(&p, end, &c->sport) && p < end && *p++ == ',' && parse_port(&p, end, &c->cport) && p == end)
    return nl_query(c);
  char out[128];
  int k = 0;
  while (n > 0 && (*s == ' ' || *s == '\t')) s++, n--;
  while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
  for (size_t j = 0; j < n && k < 64; j++)
    if ((unsigned char)s[j] >= 0x20 && s[j] != 0x7f) out[k++] = s[j]; /* no controls in the echo */
  if (k == 0) k = sprintf(out, "0, 0");
  k += sprintf(out + k, " : ERROR : INVALID-PORT\r\n");
  reply(c, out, k);
  return 0;
}

static void drop(conn_t *c) {
  close(c->fd); /* also takes it out of the epoll set */
  free(c);
}

static void pump(conn_t *c) {
  for (;;) {
    if (c->dead) { drop(c); return; }
    if (c->waiting) return;
    char *nl = memchr(c->buf, '\n', c->len);
    if (nl) {
      size_t used = (size_t)(nl - c->buf) + 1, n = used - 1;
      if (n > 0 && c->buf[n - 1] == '\r') n--;
      int busy = line(c, c->buf, n);
      memmove(c->buf, c->buf + used, c->len - used);
      c->len -= used;
      if (busy) return; /* the answer pushes c again */
      continue;
    }
    if (c->len == MAXLINE) {
      reply(c, "0, 0 : ERROR : INVALID-PORT\r\n", 29);
      char junk[4096]; /* unread data would turn the close into a RST that loses the reply */
      for (int k = 0; k < 16 && recv(c->fd, junk, sizeof junk, 0) > 0; k++) {}
      drop(c);
      return;
    }
    if (!c->readable) return;
    ssize_t r = recv(c->fd, c->buf + c->len, MAXLINE - c->len, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && errno == EAGAIN) { c->readable = 0; return; }
    if (r <= 0) { drop(c); return; } /* EOF or error */
    if ((size_t)r < MAXLINE - c->len) c->readable = 0; /* short read: drained, the next data is a new edge */
    c->len += (size_t)r;
  }
}

static double now(void) {
  struct timespec t;
  return clock_gettime(CLOCK_MONOTONIC, &t), (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void listener(unsigned events) { /* EPOLLIN, or 0 to pause accepting */
  struct epoll_event e = {.events = events, .data.ptr = &listener_tag};
  epoll_ctl(ep, EPOLL_CTL_MOD, lfd, &e);
}

/* Accepts to EAGAIN; returns 1 when accepting should pause (EMFILE, ENFILE, no memory). */
static int accept_all(void) {
  int one = 1;
  for (;;) {
    struct sockaddr_in peer;
    socklen_t pl = sizeof peer;
    int fd = accept4(lfd, (struct sockaddr *)&peer, &pl, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM;
    }
    conn_t *c = calloc(1, sizeof *c);
    socklen_t ll = sizeof c->local;
    if (c == NULL || getsockname(fd, (struct sockaddr *)&c->local, &ll) < 0) { close(fd); free(c); continue; }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->fd = fd;
    c->peer = peer;
    struct epoll_event e = {.events = EPOLLIN | EPOLLET, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) < 0) drop(c);
  }
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  signal(SIGTERM, quit);
  signal(SIGINT, quit);
  int port = argc > 1 ? atoi(argv[1]) : 113;
  const char *host = argc > 2 ? argv[2] : "127.0.0.1";
  lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1, rcv = 1 << 20;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
  if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) { fprintf(stderr, "c-identd: bad IPv4 address %s\n", host); return 1; }
  if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 4096) < 0) { perror("c-identd: bind/listen"); return 1; }
  nlfd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (nlfd < 0) { perror("c-identd: netlink"); return 1; }
  setsockopt(nlfd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv); /* the kernel caps it at rmem_max */
  for (int i = INFLIGHT - 1; i >= 0; i--) free_slots[nfree++] = i;
  ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &listener_tag}; /* listener, netlink: level-triggered */
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  ev.data.ptr = &netlink_tag;
  epoll_ctl(ep, EPOLL_CTL_ADD, nlfd, &ev);
  socklen_t sl = sizeof sa;
  getsockname(lfd, (struct sockaddr *)&sa, &sl);
  printf("listening %d\n", ntohs(sa.sin_port));
  fflush(stdout);
  struct epoll_event evs[256];
  double paused_until = 0;
  for (;;) {
    int n = epoll_wait(ep, evs, 256, paused_until > 0 ? 100 : -1);
    if (n < 0 && errno != EINTR) { perror("c-identd: epoll_wait"); return 1; }
    if (paused_until > 0 && now() >= paused_until) listener(EPOLLIN), paused_until = 0;
    for (int i = 0; i < n; i++) {
      void *p = evs[i].data.ptr;
      if (p == &listener_tag) {
        if (accept_all()) listener(0), paused_until = now() + 0.1;
      } else if (p == &netlink_tag) {
        nl_drain();
      } else {
        ((conn_t *)p)->readable = 1;
        push(p);
      }
    }
    while (head) {
      conn_t *c = head;
      head = c->next;
      if (head == NULL) tail = NULL;
      c->queued = 0;
      pump(c);
    }
  }
}
