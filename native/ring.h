// Ring: the completion side of the Pump's io_uring backend, in the kernel's
// own terms and nothing else (no JavaScript, no connection table).
//
// One io_uring instance with a provided buffer ring carved from memory the
// caller owns (the Pump's read arena, which JS sees), so a multishot recv
// completes straight into bytes a handler can be given. ring_linux.cc is
// the implementation; ring_none.cc, for every other build, fails Open with
// the reason. Every method returns 0 or a count on success and -errno on
// failure, as the Selector does.
#ifndef EDGELOOP_RING_H_
#define EDGELOOP_RING_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

struct msghdr;

namespace edgeloop {

// One completion, as the Pump needs it.
struct Completion {
  uint64_t user_data;
  int32_t res;    // the operation's result: a count or -errno
  bool more;      // a multishot request stays armed (IORING_CQE_F_MORE)
  int32_t bid;    // the provided buffer the bytes are in; -1: none
};

class Ring {
 public:
  // Completion queue entries the ring asks for (IORING_SETUP_CQSIZE).
  static constexpr uint32_t kCompletionQueueSize = 8192;

  // Opens a ring whose provided buffers are `count` slices of `size` bytes
  // of `arena` (count a power of two, at most 32768). Returns null with
  // `why` naming what this kernel or build lacks.
  static std::unique_ptr<Ring> Open(uint8_t* arena, uint32_t size, uint32_t count,
                                    std::string* why);
  // Probes without keeping anything: "" when Open would succeed, else why not.
  static std::string Probe();

  virtual ~Ring() = default;
  // The ring fd (pollable: readable when completions wait), -1 once closed.
  virtual int fd() const = 0;
  // Which completion mode setup accepted, for diagnostics.
  virtual const char* mode() const = 0;
  // An eventfd the kernel signals whenever completions are on their way
  // (made on the first call; -errno if it cannot be). A DEFER_TASKRUN
  // ring's own fd does not wake a poller for deferred work; this does.
  virtual int EventFd() = 0;
  // Provided buffers the kernel holds (free for recvs).
  virtual uint32_t free_buffers() const = 0;

  // Queue one request each; nothing reaches the kernel before Submit or
  // Wait. A full submission queue is submitted on the spot.
  virtual int QueueRecv(int fd, uint64_t user_data) = 0;       // multishot, buffer select
  // Multishot accept: one completion per connection, its res the new fd
  // (non-blocking, close-on-exec), until an error or a cancel ends it.
  virtual int QueueAccept(int fd, uint64_t user_data) = 0;
  virtual int QueuePoll(int fd, uint32_t events, uint64_t user_data) = 0;  // oneshot
  virtual int QueueCancel(uint64_t target, uint64_t user_data) = 0;
  // sendmsg with MSG_DONTWAIT: it completes inside the enter that submits
  // it (sent, short or -EAGAIN), never later, so `msg` and the bytes it
  // points at need to live only until that enter returns.
  virtual int QueueSendmsg(int fd, const struct msghdr* msg, uint64_t user_data) = 0;

  // Hands the queued requests to the kernel without waiting.
  virtual int Submit() = 0;
  // Submits, then waits until a completion is ready beyond `expected` ones
  // the submission itself completes, or `timeout_ms` passes (-1: no limit,
  // 0: no wait). A signal ends the wait early (returns 0).
  virtual int Wait(int timeout_ms, unsigned expected = 0) = 0;
  // Takes the next ready completion; false when none is left.
  virtual bool Next(Completion* out) = 0;

  // Gives buffer `bid` back to the kernel; Publish makes the returns visible.
  virtual void ReturnBuffer(uint32_t bid) = 0;
  virtual void PublishBuffers() = 0;

  virtual void Close() = 0;
};

}  // namespace edgeloop

#endif  // EDGELOOP_RING_H_
