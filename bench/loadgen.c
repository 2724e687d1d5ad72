// edgeloop load generator: one thread, epoll, N echo connections with D
// messages of S bytes in flight each; or N idle connections (memory); or
// ident clients that connect, ask about their own connection, and close.
//
// Prints one JSON object on stdout. Every run is bounded by --seconds.
//
//   loadgen --port P [--host 127.0.0.1] [-c N] [-d D] [-s S] [-t SEC]
//           [-w WARMUP] [--busy-poll] [--pid SERVER_PID]
//   loadgen --port P --idle N [--hold SEC]
//   loadgen --port P --ident -c N [-t SEC] [-w WARMUP] [--pid SERVER_PID]
//           [--sources K]
//
// --sources K binds each new connection to one of 127.0.0.2 .. 127.0.0.K+1
// in turn (IPv4 loopback only). A client that closes first keeps each
// 4-tuple in TIME_WAIT for a minute, and with one source address every
// connect() then searches the one ephemeral port range past tens of
// thousands of them (__inet_hash_connect dominates the load generator's
// profile); K addresses give K port ranges, so the load generator, not the
// kernel's port search, sets the pace.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 100000
#define HIST_BUCKETS 1000000 /* 100 ns buckets: up to 100 ms */
#define HIST_NS 100

typedef struct {
  int fd;
  size_t sent_in_msg;  /* bytes of the message being written */
  size_t recv_in_msg;  /* bytes of the reply being read */
  int inflight;        /* messages written (fully) and not yet echoed */
  int to_send;         /* messages still to start writing */
  uint64_t *stamps;    /* send time of each in-flight message, ring */
  int head, tail;
  char reply[128];     /* ident reply accumulation */
  size_t reply_len;
  int connected;
} conn_t;

static const char *host = "127.0.0.1";
static int port = 0, nconns = 1, depth = 1, msg_size = 64, busy = 0;
static double seconds = 5, warmup = 1;
static int server_pid = 0, idle_conns = 0, ident = 0;
static double hold = 3600;
static int sources = 0, next_source = 0;
static uint32_t *hist;
static uint64_t hist_over, samples;
static unsigned char *payload, *sink;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
  fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
  exit(1);
}

static double server_cpu_s(void) {
  if (server_pid <= 0) return 0;
  char path[64], buf[2048];
  snprintf(path, sizeof path, "/proc/%d/stat", server_pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  char *p = strrchr(buf, ')'); /* comm may contain spaces */
  if (!p) return -1;
  unsigned long utime = 0, stime = 0;
  long cutime = 0, cstime = 0;
  /* after ") " come fields 3..: state ppid pgrp session tty tpgid flags
     minflt cminflt majflt cmajflt utime stime cutime cstime. Children that
     were waited for count too (a server that forks per connection). */
  if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %ld %ld", &utime, &stime, &cutime,
             &cstime) != 4) {
    return -1;
  }
  return (double)(utime + stime + (unsigned long)cutime + (unsigned long)cstime) / (double)sysconf(_SC_CLK_TCK);
}

static int connect_one(int blocking) {
  struct sockaddr_storage ss;
  socklen_t len;
  memset(&ss, 0, sizeof ss);
  struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    len = sizeof *v4;
  } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    len = sizeof *v6;
  } else {
    fprintf(stderr, "loadgen: bad host %s\n", host);
    exit(2);
  }
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | (blocking ? 0 : SOCK_NONBLOCK), 0);
  if (fd < 0) die("socket");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (sources > 0 && ss.ss_family != AF_INET) {
    fprintf(stderr, "loadgen: --sources needs an IPv4 --host\n");
    exit(2);
  }
  if (sources > 0) {
    /* The port is chosen at connect(), against the whole 4-tuple. */
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    struct sockaddr_in src = {.sin_family = AF_INET};
    src.sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)next_source);
    next_source = (next_source + 1) % sources;
    if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) die("bind source");
  }
  if (connect(fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS) die("connect");
  return fd;
}

static void record(uint64_t ns) {
  samples++;
  uint64_t b = ns / HIST_NS;
  if (b >= HIST_BUCKETS) hist_over++;
  else hist[b]++;
}

static double percentile(double p) {
  uint64_t want = (uint64_t)(p * (double)samples);
  if (want >= samples) want = samples ? samples - 1 : 0;
  uint64_t seen = 0;
  for (uint64_t b = 0; b < HIST_BUCKETS; b++) {
    seen += hist[b];
    if (seen > want) return (double)(b * HIST_NS + HIST_NS / 2) / 1000.0;
  }
  return (double)HIST_BUCKETS * HIST_NS / 1000.0; /* in the overflow bucket */
}

/* Writes as much of the current/next messages as the socket takes. */
static void pump_writes(conn_t *c, uint64_t t) {
  while (c->to_send > 0 || c->sent_in_msg > 0) {
    if (c->sent_in_msg == 0) {
      c->stamps[c->tail] = t;
      c->tail = (c->tail + 1) % depth;
    }
    ssize_t n = send(c->fd, payload + c->sent_in_msg, msg_size - c->sent_in_msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (c->sent_in_msg == 0) c->tail = (c->tail + depth - 1) % depth; /* not started */
      if (errno == EAGAIN) return;
      die("send");
    }
    c->sent_in_msg += (size_t)n;
    if (c->sent_in_msg < (size_t)msg_size) return;
    c->sent_in_msg = 0;
    c->to_send--;
    c->inflight++;
  }
}

static void run_echo(void) {
  conn_t *conns = calloc(nconns, sizeof *conns);
  payload = malloc(msg_size);
  sink = malloc(1 << 20);
  hist = calloc(HIST_BUCKETS, sizeof *hist);
  memset(payload, 'x', msg_size);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  for (int i = 0; i < nconns; i++) {
    conn_t *c = &conns[i];
    c->fd = connect_one(0);
    c->stamps = calloc(depth, sizeof *c->stamps);
    c->to_send = depth;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) die("epoll_ctl");
  }
  struct epoll_event *evs = calloc(1024, sizeof *evs);
  uint64_t start = now_ns();
  uint64_t measure_from = start + (uint64_t)(warmup * 1e9);
  uint64_t end = measure_from + (uint64_t)(seconds * 1e9);
  int measuring = 0;
  uint64_t msgs = 0;
  double cpu0 = 0;
  for (;;) {
    uint64_t t = now_ns();
    if (!measuring && t >= measure_from) {
      measuring = 1;
      msgs = 0;
      samples = 0;
      hist_over = 0;
      memset(hist, 0, HIST_BUCKETS * sizeof *hist);
      cpu0 = server_cpu_s();
      measure_from = t;
    }
    if (t >= end) break;
    int n = epoll_wait(ep, evs, 1024, busy ? 0 : 100);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    t = now_ns();
    for (int i = 0; i < n; i++) {
      conn_t *c = evs[i].data.ptr;
      if (evs[i].events & (EPOLLERR | EPOLLHUP)) {
        fprintf(stderr, "loadgen: connection failed or closed by the server\n");
        exit(1);
      }
      if (evs[i].events & EPOLLIN) {
        for (;;) {
          ssize_t r = recv(c->fd, sink, 1 << 20, 0);
          if (r < 0) {
            if (errno == EAGAIN) break;
            die("recv");
          }
          if (r == 0) {
            fprintf(stderr, "loadgen: server closed a connection\n");
            exit(1);
          }
          c->recv_in_msg += (size_t)r;
          while (c->recv_in_msg >= (size_t)msg_size && c->inflight > 0) {
            c->recv_in_msg -= msg_size;
            c->inflight--;
            record(t - c->stamps[c->head]);
            c->head = (c->head + 1) % depth;
            msgs++;
            c->to_send++;
          }
        }
      }
      pump_writes(c, t);
    }
  }
  double elapsed = (double)(now_ns() - measure_from) / 1e9;
  double cpu = server_cpu_s() - cpu0;
  printf("{\"mode\":\"echo\",\"connections\":%d,\"depth\":%d,\"size\":%d,\"seconds\":%.3f,"
         "\"messages\":%llu,\"msgs_per_s\":%.1f,\"mb_per_s\":%.3f,"
         "\"p50_us\":%.2f,\"p99_us\":%.2f,\"p999_us\":%.2f,\"server_cpu_s\":%.3f,"
         "\"server_cpu_us_per_msg\":%.4f}\n",
         nconns, depth, msg_size, elapsed, (unsigned long long)msgs, msgs / elapsed,
         msgs * (double)msg_size / elapsed / 1e6, percentile(0.5), percentile(0.99),
         percentile(0.999), server_pid > 0 ? cpu : 0,
         server_pid > 0 && msgs ? cpu * 1e6 / (double)msgs : 0);
}

static void run_idle(void) {
  int *fds = calloc(idle_conns, sizeof *fds);
  for (int i = 0; i < idle_conns; i++) {
    fds[i] = connect_one(1);
  }
  /* A round trip on the last one shows the server has accepted them all. */
  char b = 'x';
  if (send(fds[idle_conns - 1], &b, 1, MSG_NOSIGNAL) != 1) die("send");
  if (recv(fds[idle_conns - 1], &b, 1, 0) != 1) die("recv");
  printf("{\"mode\":\"idle\",\"connections\":%d}\n", idle_conns);
  fflush(stdout);
  uint64_t until = now_ns() + (uint64_t)(hold * 1e9);
  while (now_ns() < until) {
    char c;
    ssize_t r = read(0, &c, 1); /* parent closes stdin or kills us */
    if (r <= 0) break;
  }
}

/* Ident clients: connect, ask "<server port>, <client port>" about the query
   connection itself, read one reply line, close; repeat. */
static void run_ident(void) {
  conn_t *conns = calloc(nconns, sizeof *conns);
  hist = calloc(HIST_BUCKETS, sizeof *hist);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event *evs = calloc(1024, sizeof *evs);
  uint64_t start = now_ns();
  uint64_t measure_from = start + (uint64_t)(warmup * 1e9);
  uint64_t end = measure_from + (uint64_t)(seconds * 1e9);
  uint64_t queries = 0, errors = 0;
  int measuring = 0;
  double cpu0 = 0;
  for (int i = 0; i < nconns; i++) {
    conns[i].fd = connect_one(0);
    conns[i].stamps = calloc(1, sizeof(uint64_t));
    conns[i].stamps[0] = now_ns();
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = &conns[i]};
    epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
  }
  for (;;) {
    uint64_t t = now_ns();
    if (!measuring && t >= measure_from) {
      measuring = 1;
      queries = errors = samples = hist_over = 0;
      memset(hist, 0, HIST_BUCKETS * sizeof *hist);
      cpu0 = server_cpu_s();
      measure_from = t;
    }
    if (t >= end) break;
    int n = epoll_wait(ep, evs, 1024, busy ? 0 : 100);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int i = 0; i < n; i++) {
      conn_t *c = evs[i].data.ptr;
      int restart = 0;
      if (!c->connected && (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        struct sockaddr_storage local;
        socklen_t len = sizeof local;
        int err = 0;
        socklen_t elen = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen);
        if (err != 0 || getsockname(c->fd, (struct sockaddr *)&local, &len) < 0) {
          errors++;
          restart = 1;
        } else {
          int lport = ntohs(local.ss_family == AF_INET ? ((struct sockaddr_in *)&local)->sin_port
                                                      : ((struct sockaddr_in6 *)&local)->sin6_port);
          char q[64];
          int ql = snprintf(q, sizeof q, "%d, %d\r\n", port, lport);
          if (send(c->fd, q, ql, MSG_NOSIGNAL) != ql) {
            errors++;
            restart = 1;
          } else {
            c->connected = 1;
            c->reply_len = 0;
            struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
            epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
          }
        }
      } else if (c->connected && (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) {
        ssize_t r = recv(c->fd, c->reply + c->reply_len, sizeof c->reply - 1 - c->reply_len, 0);
        if (r < 0 && errno == EAGAIN) continue;
        if (r <= 0) {
          errors++;
          restart = 1;
        } else {
          c->reply_len += (size_t)r;
          if (memchr(c->reply, '\n', c->reply_len) != NULL || c->reply_len >= sizeof c->reply - 1) {
            c->reply[c->reply_len] = 0;
            if (strstr(c->reply, "USERID") != NULL) {
              queries++;
              record(now_ns() - c->stamps[0]);
            } else {
              errors++;
            }
            restart = 1;
          }
        }
      }
      if (restart) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = connect_one(0);
        c->connected = 0;
        c->stamps[0] = now_ns();
        struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
      }
    }
  }
  double elapsed = (double)(now_ns() - measure_from) / 1e9;
  double cpu = server_cpu_s() - cpu0;
  printf("{\"mode\":\"ident\",\"connections\":%d,\"seconds\":%.3f,\"queries\":%llu,\"errors\":%llu,"
         "\"queries_per_s\":%.1f,\"p50_us\":%.2f,\"p99_us\":%.2f,\"server_cpu_s\":%.3f,"
         "\"server_cpu_us_per_query\":%.2f}\n",
         nconns, elapsed, (unsigned long long)queries, (unsigned long long)errors, queries / elapsed,
         percentile(0.5), percentile(0.99), server_pid > 0 ? cpu : 0,
         server_pid > 0 && queries ? cpu * 1e6 / (double)queries : 0);
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED(x) \
  if (!v) { fprintf(stderr, "loadgen: %s needs a value\n", a); return 2; } \
  x; i++;
    if (!strcmp(a, "--host")) { NEED(host = v) }
    else if (!strcmp(a, "--port")) { NEED(port = atoi(v)) }
    else if (!strcmp(a, "-c")) { NEED(nconns = atoi(v)) }
    else if (!strcmp(a, "-d")) { NEED(depth = atoi(v)) }
    else if (!strcmp(a, "-s")) { NEED(msg_size = atoi(v)) }
    else if (!strcmp(a, "-t")) { NEED(seconds = atof(v)) }
    else if (!strcmp(a, "-w")) { NEED(warmup = atof(v)) }
    else if (!strcmp(a, "--pid")) { NEED(server_pid = atoi(v)) }
    else if (!strcmp(a, "--idle")) { NEED(idle_conns = atoi(v)) }
    else if (!strcmp(a, "--hold")) { NEED(hold = atof(v)) }
    else if (!strcmp(a, "--busy-poll")) busy = 1;
    else if (!strcmp(a, "--ident")) ident = 1;
    else if (!strcmp(a, "--sources")) { NEED(sources = atoi(v)) }
    else { fprintf(stderr, "loadgen: unknown argument %s\n", a); return 2; }
  }
  if (port <= 0 || port > 65535 || nconns < 1 || nconns > MAX_CONNS || depth < 1 || msg_size < 1 ||
      msg_size > (1 << 24) || seconds <= 0 || seconds > 3600 || warmup < 0 || idle_conns < 0 ||
      idle_conns > MAX_CONNS || sources < 0 || sources > 254) {
    fprintf(stderr, "loadgen: bad arguments (see the comment at the top of loadgen.c)\n");
    return 2;
  }
  if (idle_conns > 0) run_idle();
  else if (ident) run_ident();
  else run_echo();
  return 0;
}
