// LinuxRing: the Ring interface (ring.h) over io_uring's three syscalls and
// the kernel's own ABI (linux/io_uring.h). The hot methods are here, inline;
// set-up and the feature checks are in ring_linux.cc.
#ifndef EDGELOOP_RING_LINUX_H_
#define EDGELOOP_RING_LINUX_H_

#include <errno.h>
#include <linux/io_uring.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>

#include "ring.h"

namespace edgeloop {

class LinuxRing final : public Ring {
 public:
  ~LinuxRing() override;

  // Sets up everything Open promises; false with the missing piece in `why`.
  bool Init(uint8_t* arena, uint32_t size, uint32_t count, std::string* why);

  int fd() const override { return fd_; }
  const char* mode() const override { return mode_; }
  uint32_t free_buffers() const override { return count_ - held_; }
  int EventFd() override;

  int QueueRecv(int fd, uint64_t user_data) override {
    io_uring_sqe* s = Sqe();
    if (s == nullptr) return fd_ < 0 ? -EBADF : -EBUSY;
    s->opcode = IORING_OP_RECV;
    s->fd = fd;
    s->ioprio = IORING_RECV_MULTISHOT;
    s->flags = IOSQE_BUFFER_SELECT;
    s->buf_group = kBufferGroup;
    s->user_data = user_data;
    return 0;
  }

  int QueueAccept(int fd, uint64_t user_data) override {
    io_uring_sqe* s = Sqe();
    if (s == nullptr) return fd_ < 0 ? -EBADF : -EBUSY;
    s->opcode = IORING_OP_ACCEPT;
    s->fd = fd;
    s->ioprio = IORING_ACCEPT_MULTISHOT;
    s->accept_flags = SOCK_NONBLOCK | SOCK_CLOEXEC;
    s->user_data = user_data;
    return 0;
  }

  int QueuePoll(int fd, uint32_t events, uint64_t user_data) override {
    io_uring_sqe* s = Sqe();
    if (s == nullptr) return fd_ < 0 ? -EBADF : -EBUSY;
    s->opcode = IORING_OP_POLL_ADD;
    s->fd = fd;
    s->poll32_events = events;
    s->user_data = user_data;
    return 0;
  }

  int QueueCancel(uint64_t target, uint64_t user_data) override {
    io_uring_sqe* s = Sqe();
    if (s == nullptr) return fd_ < 0 ? -EBADF : -EBUSY;
    s->opcode = IORING_OP_ASYNC_CANCEL;
    s->fd = -1;
    s->addr = target;
    s->user_data = user_data;
    return 0;
  }

  int QueueSendmsg(int fd, const struct msghdr* msg, uint64_t user_data) override {
    io_uring_sqe* s = Sqe();
    if (s == nullptr) return fd_ < 0 ? -EBADF : -EBUSY;
    s->opcode = IORING_OP_SENDMSG;
    s->fd = fd;
    s->addr = reinterpret_cast<uint64_t>(msg);
    s->len = 1;
    s->msg_flags = MSG_NOSIGNAL | MSG_DONTWAIT;
    s->user_data = user_data;
    return 0;
  }

  int Submit() override { return fd_ < 0 ? -EBADF : Pending() == 0 ? 0 : Enter(0, 0, nullptr); }

  int Wait(int timeout_ms, unsigned expected = 0) override {
    if (fd_ < 0) return -EBADF;
    if (timeout_ms == 0 || Ready() > 0) return Enter(0, IORING_ENTER_GETEVENTS, nullptr);
    __kernel_timespec ts{};
    io_uring_getevents_arg arg{};
    arg.sigmask_sz = _NSIG / 8;
    if (timeout_ms > 0) {
      ts.tv_sec = timeout_ms / 1000;
      ts.tv_nsec = static_cast<long long>(timeout_ms % 1000) * 1000000;
      arg.ts = reinterpret_cast<uint64_t>(&ts);
    }
    int r = Enter(expected + 1, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &arg);
    return r == -ETIME || r == -EINTR ? 0 : r;
  }

  bool Next(Completion* out) override {
    if (fd_ < 0) return false;
    unsigned head = *cq_head_;
    if (head == __atomic_load_n(cq_tail_, __ATOMIC_ACQUIRE)) return false;
    const io_uring_cqe& c = cqes_[head & cq_mask_];
    out->user_data = c.user_data;
    out->res = c.res;
    out->more = (c.flags & IORING_CQE_F_MORE) != 0;
    out->bid = (c.flags & IORING_CQE_F_BUFFER) != 0
                   ? static_cast<int32_t>(c.flags >> IORING_CQE_BUFFER_SHIFT)
                   : -1;
    if (out->bid >= 0) held_++;
    // Release: the entry is read before the kernel may reuse its slot.
    __atomic_store_n(cq_head_, head + 1, __ATOMIC_RELEASE);
    return true;
  }

  void ReturnBuffer(uint32_t bid) override {
    io_uring_buf* b = &buf_entries_[(buf_tail_++) & (count_ - 1)];
    b->addr = reinterpret_cast<uint64_t>(arena_ + static_cast<size_t>(bid) * size_);
    b->len = size_;
    b->bid = static_cast<uint16_t>(bid);
    held_--;
  }

  void PublishBuffers() override {
    // Release: the entries are visible before the tail that covers them.
    __atomic_store_n(buf_ring_tail_, buf_tail_, __ATOMIC_RELEASE);
  }

  void Close() override;

 private:
  static constexpr uint16_t kBufferGroup = 0;

  unsigned Pending() const { return sq_local_ - __atomic_load_n(sq_head_, __ATOMIC_ACQUIRE); }
  unsigned Ready() const { return __atomic_load_n(cq_tail_, __ATOMIC_ACQUIRE) - *cq_head_; }

  io_uring_sqe* Sqe() {
    if (fd_ < 0) return nullptr;
    // Full: hand the queued batch to the kernel now.
    if (Pending() >= sq_entries_ && Enter(0, 0, nullptr) < 0 && Pending() >= sq_entries_) {
      return nullptr;
    }
    io_uring_sqe* s = &sqes_[sq_local_ & sq_mask_];
    std::memset(s, 0, sizeof *s);
    sq_local_++;
    return s;
  }

  // Publishes the queued SQEs and enters. EINTR is retried only while
  // submissions remain; a wait it ended is simply over.
  int Enter(unsigned wait, unsigned flags, io_uring_getevents_arg* arg) {
    __atomic_store_n(sq_tail_, sq_local_, __ATOMIC_RELEASE);
    for (;;) {
      long r = syscall(__NR_io_uring_enter, enter_fd_, Pending(), wait, flags | enter_flags_,
                       arg, arg == nullptr ? 0 : sizeof *arg);
      if (r >= 0) return static_cast<int>(r);
      if (errno == EINTR && Pending() > 0) continue;
      return -errno;
    }
  }

  bool MapRings(const io_uring_params& p, std::string* why);
  bool RegisterBuffers(std::string* why);
  bool CheckOps(std::string* why);
  bool CheckMultishotRecv(std::string* why);

  int fd_ = -1;
  int event_fd_ = -1;
  unsigned enter_fd_ = 0;      // the fd, or its registered index
  unsigned enter_flags_ = 0;   // IORING_ENTER_REGISTERED_RING when registered
  const char* mode_ = "";
  void* rings_ = MAP_FAILED;   // SQ and CQ rings, one mapping
  size_t rings_size_ = 0;
  io_uring_sqe* sqes_ = nullptr;
  size_t sqes_size_ = 0;
  unsigned* sq_head_ = nullptr;
  unsigned* sq_tail_ = nullptr;
  unsigned sq_mask_ = 0;
  unsigned sq_entries_ = 0;
  unsigned sq_local_ = 0;      // our tail: SQEs written, not yet published
  unsigned* cq_head_ = nullptr;
  unsigned* cq_tail_ = nullptr;
  unsigned cq_mask_ = 0;
  io_uring_cqe* cqes_ = nullptr;
  // The buffer ring's memory as the kernel reads it: an array of
  // io_uring_buf whose first entry's `resv` is the tail. (Not through
  // io_uring_buf_ring: in C++ its empty flexible-array prelude takes a
  // byte, which moves `bufs` 8 bytes off the kernel's layout.)
  void* buf_ring_ = nullptr;
  io_uring_buf* buf_entries_ = nullptr;
  uint16_t* buf_ring_tail_ = nullptr;
  size_t buf_ring_size_ = 0;
  uint8_t* arena_ = nullptr;
  uint32_t size_ = 0;
  uint32_t count_ = 0;
  uint32_t held_ = 0;          // buffers handed out by completions, not yet returned
  uint16_t buf_tail_ = 0;
};

}  // namespace edgeloop

#endif  // EDGELOOP_RING_LINUX_H_
