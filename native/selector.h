// The one interface every readiness backend implements.
//
// selector_epoll.cc (Linux) and selector_kqueue.cc (macOS/BSD) each define
// the whole method set; binding.gyp compiles exactly one of them. Nothing in
// here knows about JavaScript: every method returns 0 or a positive count on
// success and -errno on failure, so the N-API layer (poll.cc) decides how a
// failure becomes a JS error.
#ifndef EDGELOOP_SELECTOR_H_
#define EDGELOOP_SELECTOR_H_

#include <cstdint>
#include <vector>

namespace edgeloop {

// Interest bits, as the TypeScript `Interest` constants spell them.
enum InterestBits : uint32_t {
  kInterestReadable = 1u << 0,
  kInterestWritable = 1u << 1,
  kInterestPriority = 1u << 2,
};

// Trigger options, as the TypeScript `PollOpt` constants spell them.
// LEVEL is the absence of EDGE.
enum OptBits : uint32_t {
  kOptEdge = 1u << 0,
  kOptLevel = 1u << 1,
  kOptOneshot = 1u << 2,
};

// Readiness bits written into the shared events array, one word per event.
enum ReadinessBits : uint32_t {
  kReadable = 1u << 0,
  kWritable = 1u << 1,
  kError = 1u << 2,
  kReadClosed = 1u << 3,
  kWriteClosed = 1u << 4,
  kPriority = 1u << 5,
};

// One ready event as the backends hand it to poll.cc.
struct ReadyEvent {
  uint32_t token;
  uint32_t readiness;
};

// One fd's registration, for a backend whose kernel keeps no record it can
// be asked about: kqueue holds a knote per (fd, filter), accepts a second
// EV_ADD silently and has no oneshot spanning two filters, so
// selector_kqueue.cc keeps the registration here. epoll keeps its own in the
// kernel and leaves the table empty.
struct Registration {
  uint32_t token = 0;
  uint32_t interest = 0;  // 0: the fd is not registered
  uint32_t opts = 0;
  // False once a ONESHOT registration delivered its event, until reregister.
  bool armed = false;
  // While Select copies a batch out: where this fd's event went in `out`,
  // so a second filter's event merges into it. -1 otherwise.
  int32_t batch_slot = -1;
};

class Selector {
 public:
  Selector() = default;
  ~Selector();
  Selector(const Selector&) = delete;
  Selector& operator=(const Selector&) = delete;

  // Creates the kernel object (epoll fd / kqueue fd), close-on-exec.
  int Open();
  // The pollable fd, for uv_poll in attached mode; -1 once closed.
  int fd() const { return fd_; }

  int Register(int fd, uint32_t token, uint32_t interest, uint32_t opts);
  int Reregister(int fd, uint32_t token, uint32_t interest, uint32_t opts);
  int Deregister(int fd);

  // Waits up to timeout_ms (-1 = forever, 0 = no wait) and writes at most
  // `capacity` events into `out`. Returns the count, 0 on timeout or EINTR
  // (a signal ends the wait early; the caller polls again if it wants), or
  // -errno.
  int Select(ReadyEvent* out, int capacity, int timeout_ms);

  // Waker support: arms the backend's user event under `token`. One per
  // selector.
  int AddWaker(uint32_t token);
  // Fd to write to from any thread to wake the selector (eventfd on Linux),
  // or -1 where the backend wakes through its own fd (kqueue EVFILT_USER).
  int waker_fd() const { return waker_fd_; }
  int RemoveWaker();

  // Closes the waker and the selector fd. Safe to call twice.
  void Close();

 private:
  int fd_ = -1;
  int waker_fd_ = -1;
  bool has_waker_ = false;
  uint32_t waker_token_ = 0;
  // Backend scratch: the kernel's event structs, sized to the largest
  // capacity seen so that steady-state polling never allocates.
  std::vector<unsigned char> scratch_;
  // Indexed by fd; used by the kqueue backend only (see Registration).
  std::vector<Registration> registrations_;
};

// "epoll" or "kqueue": which backend this build compiled.
extern const char kBackendName[];

// Wakes a selector from any thread given what waker_fd() returned (or the
// selector fd on kqueue). Returns 0 or -errno.
int WakeFd(int fd);

}  // namespace edgeloop

#endif  // EDGELOOP_SELECTOR_H_
