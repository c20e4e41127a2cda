// chat_server.hpp: ChatServer, the I/O half of chat-server: sockets on stage 4's EventLoop.
//
// What it does: accepts connections, reads lines, hands them to the ChatRoom (the
// protocol and the fan-out, no I/O), then sends what the room queued. It never blocks:
//
//   listener readable --> accept4 until EAGAIN --> room.join() --> ChatClient registered
//   client readable   --> one read into its input Buffer --> each complete line
//                         --> room.on_line(); a line longer than --max-line --> closed
//   client writable   --> send from the member's queue (Buffer::write_to) until EAGAIN
//   after every event --> settle(): for every member the room changed, send what is
//                         queued now; close the ones marked close_now (too slow), and
//                         close_after_flush ones (/quit) once their queue is empty
//
// EPOLLOUT is asked for only while a member has output the socket would not take, so
// an idle server sleeps. A client that never reads fills its kernel buffers, then its
// queue, and is disconnected at --max-queue bytes (chat_room.hpp states the policy);
// the others are served all along.
//
// Limits: at most --max-clients members (one more gets "! server full" and is closed);
// lines of at most --max-line bytes; one room; nothing is stored on disk.
//
// Who may call: main() builds it and calls listen(); the EventLoop calls the handlers
// and its hooks on the loop thread. Nothing here is thread-safe. A client's error closes
// that client only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "chat_room.hpp"
#include "event_loop.hpp"
#include "serverlab/buffer.hpp"
#include "serverlab/fd.hpp"
#include "serverlab/socket.hpp"

namespace serverlab::chat {

struct ServerOptions {
  RoomOptions room;
  std::size_t max_clients = 1000;
};

class ChatServer;

// One connection: its socket, its input buffer and its member id in the room.
class ChatClient final : public EventHandler {
 public:
  ChatClient(ChatServer& server, Fd fd, ClientId id, std::string peer);
  void on_event(std::uint32_t events) override;

  int fd() const { return fd_.get(); }
  ClientId id() const { return id_; }
  const std::string& peer() const { return peer_; }
  std::uint32_t interest = kReadable;  // what the loop watches for now
  bool eof = false;                    // the peer sent FIN: read no more, send what is queued

 private:
  ChatServer& server_;
  Fd fd_;
  ClientId id_;
  std::string peer_;
  Buffer in_;
};

class ChatServer final : public EventHandler {
 public:
  ChatServer(EventLoop& loop, ServerOptions options);
  ~ChatServer();
  ChatServer(const ChatServer&) = delete;
  ChatServer& operator=(const ChatServer&) = delete;

  // Starts accepting on a listening socket (made non-blocking here).
  void listen(Fd listen_fd);
  // Tells everyone the server is going, sends what fits without waiting, closes all.
  void shutdown();
  // The listener's handler: accepts until EAGAIN.
  void on_event(std::uint32_t events) override;

  // Called by ChatClient::on_event.
  void on_readable(ChatClient& client, Buffer& in);
  // Sends the member's queue until it is empty or the socket is full.
  void on_writable(ChatClient& client);
  // Sends, closes and re-arms every member the room changed (until nothing changes).
  void settle();
  // Frees the closed clients (between loop iterations: never under their own handler).
  void collect_garbage() { graveyard_.clear(); }

  std::size_t client_count() const { return clients_.size(); }

 private:
  void accept_one(Fd fd, const SocketAddress& peer);
  // Sends what the socket takes now. False: the socket failed (why in *error).
  bool flush(ChatClient& client, Member& member, std::string* error);
  void close_client(ClientId id, const std::string& reason);
  void set_interest(ChatClient& client, std::uint32_t events);

  EventLoop& loop_;
  ServerOptions options_;
  ChatRoom room_;
  Fd listen_;
  SpareFd spare_;
  std::unordered_map<ClientId, std::unique_ptr<ChatClient>> clients_;
  std::vector<std::unique_ptr<ChatClient>> graveyard_;
};

}  // namespace serverlab::chat
