// macOS/BSD backend: kqueue, with an EVFILT_USER event for the waker.
//
// After mio's src/sys/unix/selector/kqueue.rs, with three differences that
// keep the shape of the results the same as on epoll:
// - kqueue has a knote per (fd, filter), takes a second EV_ADD as a modify
//   and cannot be asked what is registered, so the registration (token,
//   interest, opts, armed) lives in registrations_, indexed by fd. A double
//   register fails with EEXIST and an unknown fd with ENOENT
//   (docs/POLL-SEMANTICS.md rules 3, 4).
// - READABLE|WRITABLE is two filters that fire as two kevents: Select
//   (selector_kqueue_select.cc) merges them into one event per fd per batch
//   (docs/POLL-SEMANTICS.md rule 6).
// - EV_ONESHOT is per filter: the first event disarms the whole
//   registration (docs/POLL-SEMANTICS.md rule 11), and the other filter is
//   disabled.
//
// The fd's knotes go away when it is closed, so a raw fd closed without
// deregister leaves its row here, and registering the fd that reuses its
// number fails with EEXIST. edgeloop's sockets deregister before closing;
// Poll.register documents the same duty for raw fds.
//
// Also built on Linux against libkqueue (binding.gyp, EDGELOOP_BACKEND), so
// nothing here may assume one kqueue implementation.
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/event.h>
#include <time.h>
#include <unistd.h>

#include "selector.h"
#include "selector_kqueue.h"

namespace edgeloop {

const char kBackendName[] = "kqueue";

namespace {

// EVFILT_USER idents are their own namespace, so 0 cannot meet fd 0.
constexpr uintptr_t kWakerIdent = 0;

// Reregister deletes up to two filters and adds up to two.
constexpr int kMaxChanges = 4;

// kqueue has no priority filter (the TypeScript side rejects PRIORITY
// first), and an interest with neither filter would register nothing.
bool ValidInterest(uint32_t interest) {
  return (interest & kInterestPriority) == 0 &&
         (interest & (kInterestReadable | kInterestWritable)) != 0;
}

// Trigger options to the kqueue flags every filter of a registration gets.
// LEVEL is neither flag.
unsigned ModeFlags(uint32_t opts) {
  unsigned flags = 0;
  if (opts & kOptEdge) flags |= EV_CLEAR;
  if (opts & kOptOneshot) flags |= EV_ONESHOT;
  return flags;
}

// Appends one EV_ADD per filter in `interest`; returns how many.
int AddFilters(struct kevent* changes, int fd, uint32_t interest,
               uint32_t opts) {
  unsigned flags = EV_ADD | EV_RECEIPT | ModeFlags(opts);
  int n = 0;
  if (interest & kInterestReadable) {
    EV_SET(&changes[n], fd, EVFILT_READ, flags, 0, 0, 0);
    n++;
  }
  if (interest & kInterestWritable) {
    EV_SET(&changes[n], fd, EVFILT_WRITE, flags, 0, 0, 0);
    n++;
  }
  return n;
}

// Appends one EV_DELETE per filter in `interest`; returns how many.
int DeleteFilters(struct kevent* changes, int fd, uint32_t interest) {
  int n = 0;
  if (interest & kInterestReadable) {
    EV_SET(&changes[n], fd, EVFILT_READ, EV_DELETE | EV_RECEIPT, 0, 0, 0);
    n++;
  }
  if (interest & kInterestWritable) {
    EV_SET(&changes[n], fd, EVFILT_WRITE, EV_DELETE | EV_RECEIPT, 0, 0, 0);
    n++;
  }
  return n;
}

// Errors that leave the change's goal met.
bool Harmless(const struct kevent& change, intptr_t err) {
  // The filter was not there: the other filter of a oneshot registration
  // already fired (EV_ONESHOT deleted it), or it was never added.
  if ((change.flags & EV_DELETE) && err == ENOENT) return true;
  // Older macOS (10.10, 10.11) returns EPIPE when registering a pipe whose
  // other end is closed, yet still reports the readable/hup events after
  // it; mio ignores it on register for that reason (tokio-rs/mio#582).
  if ((change.flags & EV_ADD) && err == EPIPE) return true;
  return false;
}

// Applies `changes` (each flagged EV_RECEIPT) and returns the first harmful
// error, or 0. EV_RECEIPT makes the kernel answer every entry, in order, with
// EV_ERROR and data = 0 or an errno, instead of stopping at the first failure
// or returning pending events, so each change is checked on its own.
int Apply(int kq, const struct kevent* changes, int n) {
  struct kevent receipts[kMaxChanges];
  int got = kevent(kq, changes, n, receipts, n, nullptr);
  if (got < 0) {
    // FreeBSD's kevent(2): a call failing with EINTR has applied every
    // change in the changelist. The receipts were not written; the changes
    // stand, so report success.
    return errno == EINTR ? 0 : -errno;
  }
  for (int i = 0; i < got && i < n; i++) {
    if ((receipts[i].flags & EV_ERROR) == 0 || receipts[i].data == 0) continue;
    if (Harmless(changes[i], receipts[i].data)) continue;
    return -static_cast<int>(receipts[i].data);
  }
  return 0;
}

}  // namespace

Selector::~Selector() { Close(); }

int Selector::Open() {
  if (fd_ >= 0) return -EBUSY;
  int fd = kqueue();
  if (fd < 0) return -errno;
  // kqueue() has no close-on-exec flag everywhere (FreeBSD's kqueuex() is
  // recent; macOS has none), so set it right away, as mio does.
  if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
    int err = -errno;
    close(fd);
    return err;
  }
  fd_ = fd;
  return 0;
}

int Selector::Register(int fd, uint32_t token, uint32_t interest,
                       uint32_t opts) {
  if (fd_ < 0) return -EBADF;
  if (!ValidInterest(interest)) return -EINVAL;
  if (FindRegistration(registrations_, fd) != nullptr) return -EEXIST;
  struct kevent changes[kMaxChanges];
  int r = Apply(fd_, changes, AddFilters(changes, fd, interest, opts));
  if (r < 0) {
    // One filter may have been added before the other failed: remove it,
    // so that the kernel, like the table, holds nothing for this fd.
    Apply(fd_, changes, DeleteFilters(changes, fd, interest));
    return r;
  }
  // The table grows only for an fd the kernel accepted, so it stays within
  // the process's fd limit whatever number a caller passes.
  size_t slot = static_cast<size_t>(fd);
  if (slot >= registrations_.size()) registrations_.resize(slot + 1);
  registrations_[slot] = Registration{token, interest, opts, true, -1};
  return 0;
}

int Selector::Reregister(int fd, uint32_t token, uint32_t interest,
                         uint32_t opts) {
  if (fd_ < 0) return -EBADF;
  if (!ValidInterest(interest)) return -EINVAL;
  Registration* reg = FindRegistration(registrations_, fd);
  if (reg == nullptr) return -ENOENT;
  // Delete the old knotes and add new ones in one changelist, rather than
  // EV_ADD over them: a new knote evaluates the fd's current state on every
  // kqueue, so a fd that is ready now reports on the next poll even in edge
  // or oneshot mode (docs/POLL-SEMANTICS.md rule 6), which libkqueue does
  // not do for an EV_ADD to a live knote; it takes the new
  // EV_CLEAR/EV_ONESHOT, which a modify keeps from the first EV_ADD; and it
  // re-arms a fired oneshot.
  struct kevent changes[kMaxChanges];
  int n = DeleteFilters(changes, fd, reg->interest);
  n += AddFilters(changes + n, fd, interest, opts);
  int r = Apply(fd_, changes, n);
  if (r < 0) {
    // Part of the changelist may have applied. Drop the registration
    // rather than leave one the table cannot describe; the fd is most
    // likely closed (EBADF) and the kernel dropped its knotes already.
    Apply(fd_, changes,
          DeleteFilters(changes, fd, kInterestReadable | kInterestWritable));
    *reg = Registration{};
    return r;
  }
  *reg = Registration{token, interest, opts, true, -1};
  return 0;
}

int Selector::Deregister(int fd) {
  if (fd_ < 0) return -EBADF;
  Registration* reg = FindRegistration(registrations_, fd);
  if (reg == nullptr) return -ENOENT;
  struct kevent changes[kMaxChanges];
  int n = DeleteFilters(changes, fd, reg->interest);
  // Forget the row whatever the kernel says: an error here means the fd is
  // closed already (EBADF), and closing dropped its knotes.
  *reg = Registration{};
  return Apply(fd_, changes, n);
}

int Selector::AddWaker(uint32_t token) {
  if (fd_ < 0) return -EBADF;
  if (has_waker_) return -EEXIST;
  // EV_CLEAR resets the trigger once it is reported, so wakes before a poll
  // coalesce into one event and the poll after it sees none
  // (docs/POLL-SEMANTICS.md rule 21).
  struct kevent change;
  EV_SET(&change, kWakerIdent, EVFILT_USER, EV_ADD | EV_CLEAR | EV_RECEIPT, 0,
         0, 0);
  int r = Apply(fd_, &change, 1);
  if (r < 0) return r;
  waker_token_ = token;
  has_waker_ = true;
  return 0;
}

int Selector::RemoveWaker() {
  if (!has_waker_) return -ENOENT;
  has_waker_ = false;
  if (fd_ < 0) return 0;
  struct kevent change;
  EV_SET(&change, kWakerIdent, EVFILT_USER, EV_DELETE | EV_RECEIPT, 0, 0, 0);
  return Apply(fd_, &change, 1);
}

void Selector::Close() {
  // Closing the kqueue drops every knote, the waker's included.
  has_waker_ = false;
  registrations_.clear();
  registrations_.shrink_to_fit();
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
}

int WakeFd(int fd) {
  // No EV_ADD: a wake that races with RemoveWaker must fail with ENOENT,
  // not re-create the user event without its EV_CLEAR.
  struct kevent change;
  EV_SET(&change, kWakerIdent, EVFILT_USER, EV_RECEIPT, NOTE_TRIGGER, 0, 0);
  return Apply(fd, &change, 1);
}

}  // namespace edgeloop
