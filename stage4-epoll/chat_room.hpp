// chat_room.hpp: ChatRoom, the chat server's logic without any I/O (stage 4's chat-server).
//
// What it teaches: broadcasting on a reactor. One line from one client becomes bytes
// queued for every other client, and a server on one thread must never wait for any
// one of them to read. So each member has its own output queue (a common Buffer), the
// driver (chat_server.cpp) sends from it when the socket has room, and the room holds
// each queue to a limit.
//
// The slow-reader policy: a member whose queue would grow past `max_queued` bytes is
// DISCONNECTED (close_now, reason "too slow: N bytes queued"), and the others are told.
// Why not drop its messages instead: a reader that silently misses lines reads a
// conversation with holes and no sign of them, and nothing tells it to catch up. A
// disconnect is visible to everyone, frees the memory at once, and the client may come
// back. IRC servers do the same ("SendQ exceeded"). Messages to the other members are
// never delayed or dropped because of one slow member.
//
// The protocol, one '\n'-terminated line at a time (a trailing '\r' is ignored):
//   text          "<nick> text" to every other member
//   /nick NAME    rename (1-16 of A-Z a-z 0-9 _ -, not taken); the others see the change
//   /who          "* N online: a, b, c" (sorted), to the sender
//   /me ACTION    "* nick ACTION" to every other member
//   /quit [WHY]   "* bye" to the sender, then it is closed; the others see "* nick left (WHY)"
// Lines from the server start with "* " (news) or "! " (an error in what you sent).
// A new member gets "* welcome, you are guestN ..." and the others "* guestN joined".
//
// Who may call: the chat server's loop thread only (not thread-safe). No call throws
// on a client's input; a bad line gets a "! ..." reply.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "serverlab/buffer.hpp"

namespace serverlab::chat {

using ClientId = std::uint64_t;  // 0 is never a client

struct RoomOptions {
  std::size_t max_queued = 64 * 1024;  // bytes queued for one member before it is disconnected
  std::size_t max_line = 1024;         // longest line a member may send ('\n' excluded)
};

// One member: its name, what waits to be sent to it, and whether it must go.
struct Member {
  std::string nick;
  Buffer out;                 // queued for this client; the driver sends and consumes it
  bool close_after_flush = false;  // /quit: send what is queued, then close
  bool close_now = false;          // too slow (or gone): close without sending more
  std::string leave_reason;        // what the others are told when it leaves
  bool changed = false;            // already listed for take_changed()
};

class ChatRoom {
 public:
  explicit ChatRoom(RoomOptions options = {});

  // A new connection: names it guestN, greets it, tells the others. Returns its id.
  ClientId join();
  // One line from `id`, without its '\n'. Unknown ids are ignored.
  void on_line(ClientId id, std::string_view line);
  // The member sent a line longer than max_line: it is told, then closed.
  void line_too_long(ClientId id);
  // The connection is gone (closed by the driver): forget the member and tell the
  // others "* nick left (reason)"; the member's own leave_reason wins when set.
  void leave(ClientId id, std::string_view reason);

  // Queues `text` for every member except `sender` (0: for everyone), applying the
  // slow-reader policy: a member whose queue would pass max_queued is marked close_now
  // instead, and gets nothing more.
  void broadcast(std::string_view text, ClientId sender);
  // Queues `text` for one member (same limit as broadcast).
  void send_to(ClientId id, std::string_view text);

  // The member, or nullptr when there is none with that id.
  Member* find(ClientId id);
  std::size_t size() const { return members_.size(); }
  const RoomOptions& options() const { return options_; }

  // Lists `id` for the next take_changed() (the driver has news for it: its socket
  // became writable, or it must close).
  void touch(ClientId id);

  // The ids whose queue grew or that must close, since the last call (each once).
  // The driver sends their output and closes the ones marked close_*.
  std::vector<ClientId> take_changed();

 private:
  // Appends to one member's queue, or marks it close_now if that would pass the limit.
  void enqueue(ClientId id, Member& member, std::string_view text);
  void mark_changed(ClientId id, Member& member);
  void command(ClientId id, Member& member, std::string_view name, std::string_view arg);
  void rename(ClientId id, Member& member, std::string_view nick);
  bool nick_taken(std::string_view nick) const;

  RoomOptions options_;
  std::map<ClientId, Member> members_;  // ordered: fan-out goes in join order
  std::vector<ClientId> changed_;
  ClientId next_id_ = 1;
};

// True for a valid nickname: 1-16 characters of A-Z a-z 0-9 _ -.
bool valid_nick(std::string_view nick);

}  // namespace serverlab::chat
