// Linux backend: epoll plus an eventfd for the waker.
#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "eintr.h"
#include "selector.h"

namespace edgeloop {

const char kBackendName[] = "epoll";

namespace {

// Interest and options to epoll flags. RDHUP rides along with READABLE so
// that a peer's shutdown(SHUT_WR) is visible as readClosed
// (docs/POLL-SEMANTICS.md rule 13).
uint32_t EpollFlags(uint32_t interest, uint32_t opts) {
  uint32_t flags = 0;
  if (interest & kInterestReadable) flags |= EPOLLIN | EPOLLRDHUP;
  if (interest & kInterestWritable) flags |= EPOLLOUT;
  if (interest & kInterestPriority) flags |= EPOLLPRI;
  if (opts & kOptEdge) flags |= EPOLLET;
  if (opts & kOptOneshot) flags |= EPOLLONESHOT;
  return flags;
}

// Kernel flags to readiness, the way mio 1.x reads them.
uint32_t Readiness(uint32_t ev) {
  uint32_t r = 0;
  if (ev & (EPOLLIN | EPOLLPRI)) r |= kReadable;
  if (ev & EPOLLOUT) r |= kWritable;
  if (ev & EPOLLERR) r |= kError;
  if ((ev & EPOLLHUP) || ((ev & EPOLLIN) && (ev & EPOLLRDHUP))) {
    r |= kReadClosed;
  }
  // ERR on its own means the write side failed (e.g. a refused connect seen
  // without OUT); OUT together with ERR likewise.
  if ((ev & EPOLLHUP) || ((ev & EPOLLOUT) && (ev & EPOLLERR)) ||
      ev == EPOLLERR) {
    r |= kWriteClosed;
  }
  if (ev & EPOLLPRI) r |= kPriority;
  return r;
}

int Ctl(int epfd, int op, int fd, uint32_t flags, uint32_t token) {
  struct epoll_event ev {};
  ev.events = flags;
  ev.data.u64 = token;
  return epoll_ctl(epfd, op, fd, &ev) == 0 ? 0 : -errno;
}

}  // namespace

Selector::~Selector() { Close(); }

int Selector::Open() {
  if (fd_ >= 0) return -EBUSY;
  int fd = epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) return -errno;
  fd_ = fd;
  return 0;
}

int Selector::Register(int fd, uint32_t token, uint32_t interest,
                       uint32_t opts) {
  if (fd_ < 0) return -EBADF;
  return Ctl(fd_, EPOLL_CTL_ADD, fd, EpollFlags(interest, opts), token);
}

int Selector::Reregister(int fd, uint32_t token, uint32_t interest,
                         uint32_t opts) {
  if (fd_ < 0) return -EBADF;
  // EPOLL_CTL_MOD re-checks current readiness, so a socket that is ready now
  // reports once on the next wait even in edge or oneshot mode
  // (docs/POLL-SEMANTICS.md rule 6).
  return Ctl(fd_, EPOLL_CTL_MOD, fd, EpollFlags(interest, opts), token);
}

int Selector::Deregister(int fd) {
  if (fd_ < 0) return -EBADF;
  // A non-null event pointer keeps kernels before 2.6.9 happy.
  struct epoll_event ev {};
  return epoll_ctl(fd_, EPOLL_CTL_DEL, fd, &ev) == 0 ? 0 : -errno;
}

int Selector::Select(ReadyEvent* out, int capacity, int timeout_ms) {
  if (fd_ < 0) return -EBADF;
  size_t need = static_cast<size_t>(capacity) * sizeof(struct epoll_event);
  if (scratch_.size() < need) scratch_.resize(need);
  auto* evs = reinterpret_cast<struct epoll_event*>(scratch_.data());
  int n = epoll_wait(fd_, evs, capacity, timeout_ms);
  if (n < 0) {
    // Policy (docs/POLL-SEMANTICS.md rule 18): a signal ends the wait with 0
    // events.
    return errno == EINTR ? 0 : -errno;
  }
  for (int i = 0; i < n; i++) {
    uint32_t token = static_cast<uint32_t>(evs[i].data.u64);
    if (has_waker_ && token == waker_token_ && waker_fd_ >= 0 &&
        (evs[i].data.u64 >> 32) == 1) {
      // Reset the counter so it can never saturate; wakes that land after
      // this read are queued again by the edge trigger, so none is lost.
      uint64_t drained;
      ssize_t ignored = read(waker_fd_, &drained, sizeof drained);
      (void)ignored;
    }
    out[i].token = token;
    out[i].readiness = Readiness(evs[i].events);
  }
  return n;
}

int Selector::AddWaker(uint32_t token) {
  if (fd_ < 0) return -EBADF;
  if (has_waker_) return -EEXIST;
  int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (efd < 0) return -errno;
  struct epoll_event ev {};
  ev.events = EPOLLIN | EPOLLET;
  // The high word marks the waker so a user fd registered under the same
  // token is never mistaken for it.
  ev.data.u64 = (uint64_t{1} << 32) | token;
  if (epoll_ctl(fd_, EPOLL_CTL_ADD, efd, &ev) != 0) {
    int err = -errno;
    close(efd);
    return err;
  }
  waker_fd_ = efd;
  waker_token_ = token;
  has_waker_ = true;
  return 0;
}

int Selector::RemoveWaker() {
  if (!has_waker_) return -ENOENT;
  if (fd_ >= 0) {
    struct epoll_event ev {};
    epoll_ctl(fd_, EPOLL_CTL_DEL, waker_fd_, &ev);
  }
  close(waker_fd_);
  waker_fd_ = -1;
  has_waker_ = false;
  return 0;
}

void Selector::Close() {
  if (has_waker_) RemoveWaker();
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
}

int WakeFd(int fd) {
  uint64_t one = 1;
  ssize_t n = RetryOnEintr([&] { return write(fd, &one, sizeof one); });
  if (n == sizeof one) return 0;
  // EAGAIN means the counter is at its maximum: a wake is already pending.
  if (n < 0 && errno == EAGAIN) return 0;
  return n < 0 ? -errno : -EIO;
}

}  // namespace edgeloop
