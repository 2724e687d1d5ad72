// Pump: one native call per loop turn for the EventLoop's connections.
//
// The loop records each connection once (token -> fd, interest). A turn is
// then a single call: send the writes the handlers corked since the last
// turn, wait on the selector, read every readable connection into the read
// arena, and describe what happened as records in a shared Uint32Array.
// All four arrays (read arena, write arena, write list, records) are typed
// arrays the JS side allocated once; nothing is allocated per turn.
#ifndef EDGELOOP_PUMP_H_
#define EDGELOOP_PUMP_H_

#include <napi.h>

#include <cstdint>
#include <memory>
#include <sys/socket.h>
#include <sys/uio.h>
#include <vector>

#include "ring.h"
#include "selector.h"

namespace edgeloop {

// Record layout: kRecordWords words per record.
//   [0] token  [1] flags (readiness bits | kRec* bits)  [2] offset
//   [3] length [4] errno (positive) when kRecError is set
constexpr uint32_t kRecordWords = 5;
// Write list layout: kWriteWords words per corked write.
//   [0] token  [1] arena (0: write arena, 1: read arena)  [2] offset  [3] length
constexpr uint32_t kWriteWords = 4;
// The ring's eventfd's token in the selector while attached. The loop
// reserves its key (src/loop/registry.ts), and add() refuses it, so no
// registration of the pump's carries it.
constexpr uint32_t kRingToken = 0xfffffffd;

enum RecordBits : uint32_t {
  kRecData = 1u << 8,     // [2],[3] hold bytes read into the read arena
  kRecEof = 1u << 9,      // the peer finished sending (read returned 0)
  kRecError = 1u << 10,   // a read or write failed: errno in [4]
  kRecShort = 1u << 11,   // write record: [2] = write index, [3] = bytes sent
  kRecRaw = 1u << 12,     // not a pumped connection: readiness only
  kRecSkipped = 1u << 13, // readable, but the arena was full: next turn
  kRecAccept = 1u << 14,  // a listener's ring accept: [2] = the new fd, or kRecError
};

// Writes one record at `rec`.
inline void PutRecord(uint32_t* rec, uint32_t token, uint32_t flags, uint32_t a,
                      uint32_t b, uint32_t err) {
  rec[0] = token;
  rec[1] = flags;
  rec[2] = a;
  rec[3] = b;
  rec[4] = err;
}

// A ring request's user_data: what it is above, its token (or send group)
// below, so a completion finds its connection and a stale one is dropped.
enum RingOp : uint32_t { kOpRecv = 1, kOpPoll = 2, kOpCancel = 3, kOpSend = 4, kOpAccept = 5 };
inline uint64_t RingUserData(RingOp op, uint32_t id) {
  return (static_cast<uint64_t>(op) << 32) | id;
}

class Pump : public Napi::ObjectWrap<Pump> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Pump(const Napi::CallbackInfo& info);
  // Collected, or torn down with its environment, unclosed: connections
  // the ring accepted and JS never saw are closed, not leaked.
  ~Pump() override {
    if (ring_ != nullptr && ring_->fd() >= 0) CloseStashedAccepts();
  }

 private:
  // A ring connection's multishot recv: none, live, or cancelled and not
  // yet ended (its last completion re-arms it if reading is wanted again).
  enum RecvState : uint8_t { kRecvIdle, kRecvArmed, kRecvCancelling };
  struct Conn {
    int fd = -1;
    uint32_t token = 0;
    uint32_t interest = 0;  // what the loop wants; 0: nothing
    uint32_t polled = 0;    // registered with the selector; 0: not at all
    bool auto_read = false; // the pump reads it (an onData handler)
    bool blocked = false;   // a write of this turn fell short: queue the rest
    RecvState recv = kRecvIdle;
    RecvState accept = kRecvIdle;  // a listener's multishot accept, as `recv`
    bool accepting = false;        // the loop wants it accepted on the ring
    bool starved = false;   // its recv ended on ENOBUFS: re-armed once buffers return
    bool throttled = false; // its backlog reached the read budget: no recv until it drains
    bool listed = false;    // on backlog_: it has held buffers or a pending end
    bool end_pending = false;  // the recv ended (EOF or end_errno) behind the backlog
    uint32_t end_errno = 0;
    // Completed buffers not yet handed to JS (reading paused, or over this
    // turn's budget), in order, linked through next_bid_.
    int32_t q_head = -1;
    int32_t q_tail = -1;
    uint32_t q_bytes = 0;
    uint32_t turn_bytes = 0;  // bytes handed to JS in turn `turn_stamp`
    uint32_t turn_stamp = 0;
    uint32_t send_group = 0;  // its entry in groups_ while send_stamp == turn_
    uint32_t send_stamp = 0;
  };
  // One connection's corked writes of a turn, as one sendmsg: its iovecs are
  // iovs_[first, first + count), one per write (iov_write_ holds its index).
  struct SendGroup {
    uint32_t token;
    uint32_t first;
    uint32_t count;
  };
  struct Arrays {
    uint8_t* read_arena;
    size_t read_size;
    uint8_t* write_arena;
    size_t write_size;
    uint32_t* writes;
    size_t writes_len;
    uint32_t* records;
    size_t records_len;
  };

  Napi::Value Add(const Napi::CallbackInfo& info);
  Napi::Value Modify(const Napi::CallbackInfo& info);
  Napi::Value Remove(const Napi::CallbackInfo& info);
  Napi::Value Turn(const Napi::CallbackInfo& info);
  Napi::Value Flush(const Napi::CallbackInfo& info);
  Napi::Value Accept(const Napi::CallbackInfo& info);
  Napi::Value SetAttached(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Backend(const Napi::CallbackInfo& info);
  int Submitted(int r);
  int CancelRecv(uint32_t token);

  bool Load(Napi::Env env, Arrays* a);
  bool CheckOpen(Napi::Env env);
  Conn* Find(uint32_t token);
  int SetInterest(Conn* c, uint32_t interest);
  int Watch(Conn* c, uint32_t polled);
  // The write half of a turn (pump_write.cc).
  bool CheckWrites(Napi::Env env, const Arrays& a, uint32_t count, size_t records_needed);
  size_t UnsentReadEnd(const Arrays& a, uint32_t shorts) const;
  uint32_t SendCorked(const Arrays& a, uint32_t count, uint32_t out);
  // The read half (pump_read.cc).
  uint32_t ReadReady(const Arrays& a, int events, uint32_t out, size_t cursor);
  // The io_uring set-up (pump_ring_open.cc) and turn (pump_ring.cc).
  void OpenRing(const Napi::CallbackInfo& info, const Arrays& a);
  bool RingReads(const Conn* c) const {
    return ring_ != nullptr && c->auto_read && (c->interest & kInterestReadable) != 0;
  }
  int ApplyRecv(Conn* c);
  int ApplyAccept(Conn* c);
  uint32_t AcceptRecord(const Completion& cq, uint32_t* rec);
  void CloseStashedAccepts();
  void RecycleBuffers();
  int32_t RingTurn(const Arrays& a, int timeout, uint32_t count);
  void Reap(const Arrays& a, uint32_t* out, bool* select);
  uint32_t Unstash(const Arrays& a, uint32_t out, uint32_t end);
  uint32_t RecvRecord(const Completion& cq, uint32_t* rec);
  uint32_t DrainBacklogs(const Arrays& a, uint32_t out, uint32_t end);
  uint32_t TurnBytes(Conn* c);
  void Hold(Conn* c, uint32_t bid, uint32_t len);
  void PendEnd(Conn* c, uint32_t err);
  void DropBacklog(Conn* c);
  // The io_uring turn's sends (pump_ring_send.cc).
  void MarkReferenced(const Arrays& a, uint32_t count);
  uint32_t QueueSends(const Arrays& a, uint32_t count, uint32_t* out);
  uint32_t SendDone(const Arrays& a, const Completion& cq, uint32_t out);
  uint32_t ShortRecords(const Arrays& a, const SendGroup& g, uint32_t from, uint32_t sent,
                        uint32_t flags, uint32_t err, uint32_t out);
  bool BacklogReady();
  void KickIfBacklog();
  void SignalRingEventFd();

  Selector* selector_;
  Napi::ObjectReference poll_ref_;
  Napi::ObjectReference arrays_ref_[4];
  uint32_t key_mask_;
  uint32_t read_budget_;
  std::vector<Conn> conns_;
  std::vector<ReadyEvent> ready_;
  // The io_uring backend; null on the selector backend.
  std::unique_ptr<Ring> ring_;
  uint32_t buffer_size_ = 0;
  std::vector<uint32_t> delivered_;  // buffers of the turn handlers see now
  std::vector<uint32_t> starved_;    // tokens waiting for buffers
  std::vector<uint32_t> backlog_;    // tokens with held buffers or a pending end
  std::vector<int32_t> next_bid_;    // a backlog's links, by buffer
  std::vector<uint32_t> bid_len_;    // bytes in each held buffer
  uint32_t turn_ = 0;
  std::vector<SendGroup> groups_;
  std::vector<struct iovec> iovs_;
  std::vector<uint32_t> iov_write_;
  std::vector<struct msghdr> msgs_;
  std::vector<uint32_t> ref_turn_;       // by buffer: the turn a corked write referenced it
  std::vector<Completion> stash_;        // completions reaped but not yet recorded
  size_t stash_next_ = 0;
  bool poll_armed_ = false;          // a oneshot poll on the selector fd is live
  bool attached_ = false;            // the ring fd sits in the selector for uv_poll
};

}  // namespace edgeloop

#endif  // EDGELOOP_PUMP_H_
