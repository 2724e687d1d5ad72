// The io_uring reference: a single-threaded echo server in C on raw io_uring
// syscalls, the bound an io_uring backend works against. One multishot accept,
// one multishot recv per connection into a provided buffer ring, and each
// received buffer echoed with a send. TCP_NODELAY on every connection.
//
//   c-uring-echo PORT [HOST]   prints "listening PORT" once ready
//   c-uring-echo --probe       exits 0 if this kernel has what the server
//                              needs, else names the missing piece, exits 1
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SQ_ENTRIES 4096
#define CQ_ENTRIES 16384
#ifndef NBUF
#define NBUF 2048        /* provided buffers; a power of two (ring size) */
#endif
#define BUFSZ 16384      /* one 16 KiB message fits one buffer */
#define BGID 0
#define PAUSE_AT 32      /* buffers queued on one connection before its recv stops */

/* user_data: op (8 bits) | fd (24 bits) | generation (32 bits). The
 * generation tells a completion for a connection that has since been freed
 * (and its fd number reused) from one for the live connection. */
enum { OP_ACCEPT = 1, OP_RECV, OP_SEND, OP_CANCEL, OP_SIGNAL };
#define UD(op, fd, gen) (((uint64_t)(op) << 56) | ((uint64_t)(fd) << 32) | (gen))

typedef struct {
  int fd;
  uint32_t gen;
  int recv_armed;  /* a multishot recv is live in the kernel */
  int send_busy;   /* one send in flight: replies stay in order */
  int closing;     /* fd is closed once nothing in the kernel refers to it */
  int eof;         /* peer stopped sending: close once the queue is sent */
  int paused;      /* recv cancelled while too much waits to be sent */
  int waiting;     /* on the list of connections waiting for buffers */
  int q_head, q_tail, q_len; /* queued buffer ids, linked through next_bid */
  uint32_t sent;   /* bytes of the head buffer already sent */
} conn_t;

static int ring_fd;
static unsigned *sq_head, *sq_tail, sq_mask, *cq_head, *cq_tail, cq_mask;
static unsigned sq_local; /* our tail: SQEs written but not yet published */
static struct io_uring_sqe *sqes;
static struct io_uring_cqe *cqes;
static struct io_uring_buf_ring *br;
static unsigned short br_tail;
static char *bufs;
static int next_bid[NBUF];
static uint32_t buf_len[NBUF];
static int bufs_held; /* buffers the kernel gave us and we have not returned */
static conn_t **conns; /* indexed by fd */
static int nconns_cap;
static uint32_t gen_counter;
static uint64_t *waiters; /* (fd, gen) keys of connections stopped by -ENOBUFS */
static int nwaiters, waiters_cap;
static int stop;
static const char *setup_name;

static void die(const char *what, int err) {
  fprintf(stderr, "c-uring-echo: %s: %s\n", what, strerror(err));
  exit(1);
}

static int enter(unsigned submit, unsigned wait, unsigned flags) {
  int r = (int)syscall(__NR_io_uring_enter, ring_fd, submit, wait, flags, NULL, 0);
  return r < 0 ? -errno : r;
}

/* Publishes written SQEs to the kernel; returns how many it has not taken. */
static unsigned publish(void) {
  __atomic_store_n(sq_tail, sq_local, __ATOMIC_RELEASE);
  return sq_local - __atomic_load_n(sq_head, __ATOMIC_ACQUIRE);
}

static struct io_uring_sqe *get_sqe(void) {
  while (sq_local - __atomic_load_n(sq_head, __ATOMIC_ACQUIRE) >= SQ_ENTRIES) {
    int r = enter(publish(), 0, 0); /* full: hand the batch over now */
    if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) die("io_uring_enter", -r);
  }
  struct io_uring_sqe *s = &sqes[sq_local & sq_mask];
  memset(s, 0, sizeof *s);
  sq_local++;
  return s;
}

/* Gives a buffer back to the kernel; the tail store is published in batches. */
static void put_buf(int bid) {
  struct io_uring_buf *b = &br->bufs[(br_tail++) & (NBUF - 1)];
  b->addr = (uint64_t)(uintptr_t)(bufs + (size_t)bid * BUFSZ);
  b->len = BUFSZ;
  b->bid = (uint16_t)bid;
  bufs_held--;
}

static void publish_bufs(void) {
  /* Release: the entries must be visible before the kernel sees the tail. */
  __atomic_store_n(&br->tail, br_tail, __ATOMIC_RELEASE);
}

static void arm_accept(int lfd) {
  struct io_uring_sqe *s = get_sqe();
  s->opcode = IORING_OP_ACCEPT;
  s->fd = lfd;
  s->ioprio = IORING_ACCEPT_MULTISHOT;
  s->accept_flags = SOCK_CLOEXEC;
  s->user_data = UD(OP_ACCEPT, 0, 0);
}

static void arm_recv(conn_t *c) {
  struct io_uring_sqe *s = get_sqe();
  s->opcode = IORING_OP_RECV;
  s->fd = c->fd;
  s->ioprio = IORING_RECV_MULTISHOT;
  s->flags = IOSQE_BUFFER_SELECT;
  s->buf_group = BGID;
  s->user_data = UD(OP_RECV, c->fd, c->gen);
  c->recv_armed = 1;
}

static void send_head(conn_t *c) {
  int bid = c->q_head;
  struct io_uring_sqe *s = get_sqe();
  s->opcode = IORING_OP_SEND;
  s->fd = c->fd;
  s->addr = (uint64_t)(uintptr_t)(bufs + (size_t)bid * BUFSZ + c->sent);
  s->len = buf_len[bid] - c->sent;
  s->msg_flags = MSG_NOSIGNAL;
  s->user_data = UD(OP_SEND, c->fd, c->gen);
  c->send_busy = 1;
}

static void cancel(conn_t *c, uint32_t flags, uint64_t target) {
  struct io_uring_sqe *s = get_sqe();
  s->opcode = IORING_OP_ASYNC_CANCEL;
  s->fd = c->fd;
  s->addr = target;
  s->cancel_flags = flags;
  s->user_data = UD(OP_CANCEL, 0, 0); /* its own completion is ignored */
}

static int pop_head(conn_t *c) {
  int bid = c->q_head;
  c->q_head = next_bid[bid];
  if (c->q_head < 0) c->q_tail = -1;
  c->q_len--;
  c->sent = 0;
  return bid;
}

/* Frees the connection once no recv or send of it is left in the kernel;
 * until then the fd stays open so its number cannot be reused under them. */
static void maybe_free(conn_t *c) {
  if (!c->closing || c->recv_armed || c->send_busy) return;
  while (c->q_len > 0) put_buf(pop_head(c));
  close(c->fd);
  conns[c->fd] = NULL;
  free(c); /* a stale entry in waiters is skipped by its generation */
}

static void start_close(conn_t *c) {
  if (c->closing) return;
  c->closing = 1;
  if (c->recv_armed || c->send_busy) cancel(c, IORING_ASYNC_CANCEL_FD | IORING_ASYNC_CANCEL_ALL, 0);
  maybe_free(c);
}

static void on_accept(int lfd, struct io_uring_cqe *cqe) {
  if (!(cqe->flags & IORING_CQE_F_MORE)) arm_accept(lfd); /* multishot ended */
  if (cqe->res == -EINVAL) {
    fprintf(stderr, "c-uring-echo: multishot accept refused (IORING_ACCEPT_MULTISHOT needs Linux 5.19+)\n");
    exit(1);
  }
  if (cqe->res < 0) return; /* e.g. EMFILE: this one is lost, the next may work */
  int fd = cqe->res, one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (fd >= nconns_cap) {
    int cap = nconns_cap;
    while (fd >= nconns_cap) nconns_cap *= 2;
    conns = realloc(conns, (size_t)nconns_cap * sizeof *conns);
    memset(conns + cap, 0, (size_t)(nconns_cap - cap) * sizeof *conns);
  }
  conn_t *c = calloc(1, sizeof *c);
  c->fd = fd;
  c->gen = ++gen_counter ? gen_counter : ++gen_counter; /* 0 marks no connection */
  c->q_head = c->q_tail = -1;
  conns[fd] = c;
  arm_recv(c);
}

static void wait_for_bufs(conn_t *c) {
  if (c->waiting) return;
  if (nwaiters == waiters_cap) {
    waiters_cap = waiters_cap ? waiters_cap * 2 : 64;
    waiters = realloc(waiters, (size_t)waiters_cap * sizeof *waiters);
  }
  waiters[nwaiters++] = UD(0, c->fd, c->gen);
  c->waiting = 1;
}

/* The recv ended without IORING_CQE_F_MORE: decide whether to start another. */
static void recv_ended(conn_t *c, int res) {
  c->recv_armed = 0;
  if (c->closing) return maybe_free(c);
  if (res == 0 || (res < 0 && res != -ENOBUFS && res != -ECANCELED)) {
    c->eof = 1; /* EOF or ECONNRESET: echo what is queued, then close */
    if (res < 0 || (!c->send_busy && c->q_len == 0)) start_close(c);
    return;
  }
  if (res == -ENOBUFS) return wait_for_bufs(c); /* the bytes wait in the socket */
  /* Paused: the send that drains the queue re-arms it, unless the queue
   * drained before this cancellation landed; then nothing else will. */
  if (c->paused && c->q_len == 0) c->paused = 0;
  if (!c->paused) arm_recv(c);
}

static void on_recv(conn_t *c, struct io_uring_cqe *cqe) {
  if (cqe->flags & IORING_CQE_F_BUFFER) {
    int bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
    bufs_held++;
    if (c == NULL || c->closing || cqe->res <= 0) {
      put_buf(bid);
    } else {
      buf_len[bid] = (uint32_t)cqe->res;
      next_bid[bid] = -1;
      if (c->q_tail >= 0) next_bid[c->q_tail] = bid;
      else c->q_head = bid;
      c->q_tail = bid;
      c->q_len++;
      if (!c->send_busy) send_head(c);
      /* A peer that does not read its replies must not hold every buffer. */
      if (c->q_len >= PAUSE_AT && c->recv_armed && !c->paused && (cqe->flags & IORING_CQE_F_MORE)) {
        c->paused = 1;
        cancel(c, 0, UD(OP_RECV, c->fd, c->gen));
      }
    }
  }
  if (c != NULL && !(cqe->flags & IORING_CQE_F_MORE)) recv_ended(c, cqe->res);
}

static void on_send(conn_t *c, struct io_uring_cqe *cqe) {
  c->send_busy = 0;
  if (c->closing) return maybe_free(c);
  if (cqe->res < 0) return start_close(c); /* EPIPE, ECONNRESET: the peer is gone */
  c->sent += (uint32_t)cqe->res;
  if (c->sent < buf_len[c->q_head]) return send_head(c); /* short send: the rest */
  put_buf(pop_head(c)); /* the kernel is done with it only now */
  if (c->q_len > 0) return send_head(c);
  if (c->eof) return start_close(c);
  if (c->paused && !c->recv_armed) {
    c->paused = 0;
    arm_recv(c);
  }
}

/* Re-arms connections stopped by -ENOBUFS once enough buffers are back:
 * no more of them than there are free buffers, oldest first, so they do
 * not all race for a few buffers and fail again. */
static void wake_waiters(void) {
  int i = 0, budget = NBUF - bufs_held;
  if (budget < NBUF / 8) return;
  while (i < nwaiters && budget > 0) {
    uint64_t k = waiters[i++];
    int fd = (int)((k >> 32) & 0xffffff);
    conn_t *c = fd < nconns_cap ? conns[fd] : NULL;
    if (c == NULL || c->gen != (uint32_t)k) continue;
    c->waiting = 0;
    if (!c->closing && !c->recv_armed) {
      arm_recv(c);
      budget--;
    }
  }
  memmove(waiters, waiters + i, (size_t)(nwaiters - i) * sizeof *waiters);
  nwaiters -= i;
}

static void setup(void) {
  /* The cheapest completion mode the kernel accepts, newest first. */
  static const struct { unsigned flags; const char *name; } modes[] = {
    {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, "SINGLE_ISSUER + DEFER_TASKRUN"},
    {IORING_SETUP_COOP_TASKRUN, "COOP_TASKRUN"},
    {0, "no task-run flags"},
  };
  struct io_uring_params p;
  int err = 0;
  ring_fd = -1;
  for (size_t i = 0; i < sizeof modes / sizeof *modes && ring_fd < 0; i++) {
    memset(&p, 0, sizeof p);
    p.flags = modes[i].flags | IORING_SETUP_CQSIZE;
    p.cq_entries = CQ_ENTRIES;
    ring_fd = (int)syscall(__NR_io_uring_setup, SQ_ENTRIES, &p);
    err = errno;
    setup_name = modes[i].name;
  }
  if (ring_fd < 0) die("io_uring_setup failed (io_uring unavailable or disabled)", err);
  if (!(p.features & IORING_FEAT_SINGLE_MMAP)) {
    fprintf(stderr, "c-uring-echo: kernel lacks IORING_FEAT_SINGLE_MMAP (needs Linux 5.4+)\n");
    exit(1);
  }
  size_t sq_sz = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  size_t cq_sz = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
  size_t sz = sq_sz > cq_sz ? sq_sz : cq_sz; /* one mapping holds both rings */
  char *rings = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring_fd, IORING_OFF_SQ_RING);
  if (rings == MAP_FAILED) die("mmap of the io_uring rings", errno);
  sqes = mmap(NULL, p.sq_entries * sizeof *sqes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring_fd, IORING_OFF_SQES);
  if (sqes == MAP_FAILED) die("mmap of the io_uring SQEs", errno);
  sq_head = (unsigned *)(rings + p.sq_off.head);
  sq_tail = (unsigned *)(rings + p.sq_off.tail);
  sq_mask = *(unsigned *)(rings + p.sq_off.ring_mask);
  unsigned *array = (unsigned *)(rings + p.sq_off.array);
  for (unsigned i = 0; i < p.sq_entries; i++) array[i] = i; /* SQE i sits in slot i */
  sq_local = *sq_tail;
  cq_head = (unsigned *)(rings + p.cq_off.head);
  cq_tail = (unsigned *)(rings + p.cq_off.tail);
  cq_mask = *(unsigned *)(rings + p.cq_off.ring_mask);
  cqes = (struct io_uring_cqe *)(rings + p.cq_off.cqes);

  /* The opcodes themselves; multishot flags come with the same kernels as
   * buffer rings (5.19, recv 6.0) and are refused with EINVAL otherwise. */
  size_t psz = sizeof(struct io_uring_probe) + 256 * sizeof(struct io_uring_probe_op);
  struct io_uring_probe *probe = calloc(1, psz);
  if (syscall(__NR_io_uring_register, ring_fd, IORING_REGISTER_PROBE, probe, 256) < 0)
    die("IORING_REGISTER_PROBE failed", errno);
  static const struct { int op; const char *name; } need[] = {
    {IORING_OP_ACCEPT, "IORING_OP_ACCEPT"}, {IORING_OP_RECV, "IORING_OP_RECV"},
    {IORING_OP_SEND, "IORING_OP_SEND"}, {IORING_OP_ASYNC_CANCEL, "IORING_OP_ASYNC_CANCEL"},
    {IORING_OP_READ, "IORING_OP_READ"},
  };
  for (size_t i = 0; i < sizeof need / sizeof *need; i++) {
    if (need[i].op > probe->last_op || !(probe->ops[need[i].op].flags & IO_URING_OP_SUPPORTED)) {
      fprintf(stderr, "c-uring-echo: kernel lacks %s\n", need[i].name);
      exit(1);
    }
  }
  free(probe);

  /* The provided buffer ring: page-aligned memory the kernel reads buffer
   * addresses from; we fill it and move its tail. */
  br = mmap(NULL, NBUF * sizeof(struct io_uring_buf), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  bufs = mmap(NULL, (size_t)NBUF * BUFSZ, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (br == MAP_FAILED || bufs == MAP_FAILED) die("mmap of the buffers", errno);
  struct io_uring_buf_reg reg = {.ring_addr = (uint64_t)(uintptr_t)br, .ring_entries = NBUF, .bgid = BGID};
  if (syscall(__NR_io_uring_register, ring_fd, IORING_REGISTER_PBUF_RING, &reg, 1) < 0)
    die("IORING_REGISTER_PBUF_RING failed (provided buffer rings need Linux 5.19+)", errno);
  br_tail = 0;
  bufs_held = NBUF;
  for (int i = 0; i < NBUF; i++) put_buf(i);
  publish_bufs();
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  setup();
  if (argc > 1 && strcmp(argv[1], "--probe") == 0) {
    printf("ok: %s\n", setup_name);
    return 0;
  }
  /* SIGINT and SIGTERM arrive as a read completing on a signalfd, so the
   * one blocking call stays io_uring_enter and no signal can slip in
   * between a flag check and the wait. */
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
  static struct signalfd_siginfo si;
  struct io_uring_sqe *s = get_sqe();
  s->opcode = IORING_OP_READ;
  s->fd = sfd;
  s->addr = (uint64_t)(uintptr_t)&si;
  s->len = sizeof si;
  s->user_data = UD(OP_SIGNAL, 0, 0);
  int port = argc > 1 ? atoi(argv[1]) : 7100;
  const char *host = argc > 2 ? argv[2] : "127.0.0.1";
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, host, &sa.sin_addr);
  if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 4096) < 0) {
    perror("c-uring-echo: bind/listen");
    return 1;
  }
  socklen_t sl = sizeof sa;
  getsockname(lfd, (struct sockaddr *)&sa, &sl);
  nconns_cap = 1024;
  conns = calloc((size_t)nconns_cap, sizeof *conns);
  arm_accept(lfd);
  printf("listening %d\n", ntohs(sa.sin_port));
  fflush(stdout);

  while (!stop) {
    publish_bufs();
    wake_waiters();
    /* Submit and wait in one call; with DEFER_TASKRUN this is also where
     * the kernel runs the work that posts our completions. */
    int r = enter(publish(), 1, IORING_ENTER_GETEVENTS);
    if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) die("io_uring_enter", -r);
    unsigned head = *cq_head, tail = __atomic_load_n(cq_tail, __ATOMIC_ACQUIRE);
    for (; head != tail; head++) {
      struct io_uring_cqe *cqe = &cqes[head & cq_mask];
      uint64_t ud = cqe->user_data;
      int op = (int)(ud >> 56), fd = (int)((ud >> 32) & 0xffffff);
      conn_t *c = fd < nconns_cap ? conns[fd] : NULL;
      if (c != NULL && c->gen != (uint32_t)ud) c = NULL; /* the fd now belongs to another */
      if (op == OP_SIGNAL) stop = 1;
      else if (op == OP_ACCEPT) on_accept(lfd, cqe);
      else if (op == OP_RECV && cqe->res == -EINVAL) {
        fprintf(stderr, "c-uring-echo: multishot recv refused (IORING_RECV_MULTISHOT needs Linux 6.0+)\n");
        return 1;
      } else if (op == OP_RECV) on_recv(c, cqe);
      else if (op == OP_SEND && c != NULL) on_send(c, cqe);
      /* A late send for a freed connection cannot happen (freeing waits for
       * it) and cancel completions carry nothing. */
    }
    __atomic_store_n(cq_head, head, __ATOMIC_RELEASE);
  }
  for (int fd = 0; fd < nconns_cap; fd++) {
    if (conns[fd]) {
      close(fd);
      free(conns[fd]);
    }
  }
  free(conns);
  free(waiters);
  close(lfd);
  close(sfd);
  close(ring_fd);
  return 0;
}
