// chat_server.cpp: chat-server's sockets on the EventLoop (see chat_server.hpp).
#include "chat_server.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "serverlab/log.hpp"
#include "serverlab/sys_error.hpp"

namespace serverlab::chat {

ChatClient::ChatClient(ChatServer& server, Fd fd, ClientId id, std::string peer)
    : server_(server), fd_(std::move(fd)), id_(id), peer_(std::move(peer)) {}

void ChatClient::on_event(std::uint32_t events) {
  // EPOLLHUP/EPOLLERR come with EPOLLIN's read returning EOF or the error, so
  // reading is how every kind of ending is noticed.
  if ((events & (kReadable | EPOLLHUP | EPOLLERR)) != 0) server_.on_readable(*this, in_);
  if ((events & kWritable) != 0) server_.on_writable(*this);
  server_.settle();
}

ChatServer::ChatServer(EventLoop& loop, ServerOptions options)
    : loop_(loop), options_(options), room_(options.room) {}

ChatServer::~ChatServer() {
  if (listen_) loop_.remove(listen_.get());
  for (auto& [id, client] : clients_) loop_.remove(client->fd());
}

void ChatServer::listen(Fd listen_fd) {
  set_nonblocking(listen_fd.get());
  listen_ = std::move(listen_fd);
  loop_.add(listen_.get(), kReadable, *this);
}

void ChatServer::on_event(std::uint32_t /*events*/) {
  for (;;) {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    const int fd = ::accept4(listen_.get(), reinterpret_cast<sockaddr*>(&address), &length,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      accept_one(Fd(fd), SocketAddress{address, length});
      continue;
    }
    switch (classify_accept_error(errno)) {
      case AcceptFailure::Drained: settle(); return;
      case AcceptFailure::Retry: continue;
      case AcceptFailure::OutOfFds: spare_.shed_one(listen_.get()); continue;
      case AcceptFailure::Resources:  // transient; the listener stays readable
        log::warn("accept4: {}", std::strerror(errno));
        settle();
        return;
    }
  }
}

void ChatServer::accept_one(Fd fd, const SocketAddress& peer) {
  if (clients_.size() >= options_.max_clients) {
    // One small write the empty socket buffer always takes; then close.
    std::string_view full = "! server full, try again later\n";
    (void)::send(fd.get(), full.data(), full.size(), MSG_NOSIGNAL);
    log::warn("refusing {}: {} clients already", peer.to_string(), clients_.size());
    return;
  }
  const ClientId id = room_.join();
  auto client = std::make_unique<ChatClient>(*this, std::move(fd), id, peer.to_string());
  try {
    loop_.add(client->fd(), kReadable, *client);
  } catch (const SysError& e) {  // epoll refused the fd: this client only
    log::warn("dropping {}: {}", client->peer(), e.what());
    room_.leave(id, "could not be served");
    return;
  }
  log::event(log::Level::Info, "chat join",
             {{"peer", client->peer()}, {"nick", room_.find(id)->nick}});
  clients_.emplace(id, std::move(client));
}

void ChatServer::on_readable(ChatClient& client, Buffer& in) {
  Member* member = room_.find(client.id());
  if (member == nullptr || member->close_now || client.eof) return;
  // One read per event: a client that sends a flood waits its turn like the others.
  IoResult r = in.read_from(client.fd());
  if (r.status == IoResult::Status::WouldBlock) return;
  if (r.is_error()) {
    member->close_now = true;
    if (member->leave_reason.empty())
      member->leave_reason = fmt::format("connection lost: {}", std::strerror(r.error));
    room_.touch(client.id());
    return;
  }
  if (member->close_after_flush) {  // on its way out (/quit, a long line): ignore the rest
    in.retrieve_all();
    client.eof = r.is_eof();
    room_.touch(client.id());
    return;
  }
  // Hand every complete line to the room.
  for (;;) {
    std::string_view text = in.view();
    const std::size_t newline = text.find('\n');
    if (newline == std::string_view::npos) break;
    if (newline > room_.options().max_line) {
      room_.line_too_long(client.id());
      return;
    }
    room_.on_line(client.id(), text.substr(0, newline));
    in.retrieve(newline + 1);
  }
  if (in.readable_bytes() > room_.options().max_line) {
    room_.line_too_long(client.id());
    return;
  }
  if (!r.is_eof()) return;
  // The peer half-closed: an unterminated last line is still a line; what is queued
  // for it is still sent (it may be reading), then it is closed.
  if (!in.empty()) room_.on_line(client.id(), in.view());
  in.retrieve_all();
  client.eof = true;
  member = room_.find(client.id());
  if (member == nullptr) return;
  member->close_after_flush = true;
  if (member->leave_reason.empty()) member->leave_reason = "left";
  room_.touch(client.id());
}

void ChatServer::on_writable(ChatClient& client) { room_.touch(client.id()); }

bool ChatServer::flush(ChatClient& client, Member& member, std::string* error) {
  while (!member.out.empty()) {
    IoResult r = member.out.write_to(client.fd());
    if (r.status == IoResult::Status::WouldBlock) return true;
    if (r.is_error()) {
      *error = fmt::format("connection lost: {}", std::strerror(r.error));
      return false;
    }
  }
  member.out.shrink_to_fit();  // an idle member keeps no big buffer
  return true;
}

void ChatServer::settle() {
  // Closing one member tells the others, which can change them too: repeat until quiet.
  for (std::vector<ClientId> ids = room_.take_changed(); !ids.empty(); ids = room_.take_changed()) {
    for (ClientId id : ids) {
      Member* member = room_.find(id);
      auto it = clients_.find(id);
      if (member == nullptr || it == clients_.end()) continue;
      ChatClient& client = *it->second;
      std::string error;
      if (member->close_now) {
        close_client(id, member->leave_reason);
      } else if (!flush(client, *member, &error)) {
        close_client(id, error);
      } else if (member->out.empty() && member->close_after_flush) {
        close_client(id, member->leave_reason);
      } else {
        const std::uint32_t want_read = client.eof ? 0 : kReadable;
        set_interest(client, member->out.empty() ? want_read : want_read | kWritable);
      }
    }
  }
}

void ChatServer::set_interest(ChatClient& client, std::uint32_t events) {
  if (client.interest == events) return;
  loop_.modify(client.fd(), events);
  client.interest = events;
}

void ChatServer::close_client(ClientId id, const std::string& reason) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  std::unique_ptr<ChatClient> client = std::move(it->second);
  clients_.erase(it);
  loop_.remove(client->fd());
  const Member* member = room_.find(id);
  log::event(log::Level::Info, "chat leave",
             {{"peer", client->peer()},
              {"nick", member != nullptr ? member->nick : std::string("?")},
              {"reason", reason}});
  room_.leave(id, reason);  // tells the others: settle() sends it
  graveyard_.push_back(std::move(client));  // its handler may be running right now
}

void ChatServer::shutdown() {
  if (listen_) {
    loop_.remove(listen_.get());
    listen_.reset();
  }
  room_.broadcast("* server shutting down\n", 0);
  for (auto& [id, client] : clients_) {
    if (Member* member = room_.find(id)) {
      std::string unused;
      if (!member->close_now) flush(*client, *member, &unused);  // what fits, no waiting
    }
    loop_.remove(client->fd());
    graveyard_.push_back(std::move(client));
  }
  clients_.clear();
  loop_.stop();
}

}  // namespace serverlab::chat
