// chat_room.cpp: the chat protocol and the fan-out (see chat_room.hpp).
#include "chat_room.hpp"

#include <algorithm>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace serverlab::chat {
namespace {

constexpr std::string_view kHelp = "commands: /nick NAME, /who, /me ACTION, /quit [WHY]";

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

bool valid_nick(std::string_view nick) {
  if (nick.empty() || nick.size() > 16) return false;
  return std::all_of(nick.begin(), nick.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

ChatRoom::ChatRoom(RoomOptions options) : options_(options) {}

Member* ChatRoom::find(ClientId id) {
  auto it = members_.find(id);
  return it == members_.end() ? nullptr : &it->second;
}

ClientId ChatRoom::join() {
  const ClientId id = next_id_++;
  std::string nick = fmt::format("guest{}", id);
  while (nick_taken(nick)) nick += '_';  // someone renamed themselves guestN first
  Member& member = members_[id];
  member.nick = std::move(nick);
  send_to(id, fmt::format("* welcome, you are {} ({})\n", member.nick, kHelp));
  broadcast(fmt::format("* {} joined\n", member.nick), id);
  return id;
}

void ChatRoom::leave(ClientId id, std::string_view reason) {
  auto it = members_.find(id);
  if (it == members_.end()) return;
  std::string why = it->second.leave_reason.empty() ? std::string(reason) : it->second.leave_reason;
  std::string nick = std::move(it->second.nick);
  members_.erase(it);
  std::erase(changed_, id);
  broadcast(fmt::format("* {} left ({})\n", nick, why), 0);
}

void ChatRoom::on_line(ClientId id, std::string_view line) {
  Member* member = find(id);
  if (member == nullptr || member->close_now || member->close_after_flush) return;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.empty()) return;
  if (line.front() != '/') {
    broadcast(fmt::format("<{}> {}\n", member->nick, line), id);
    return;
  }
  const auto space = line.find(' ');
  const std::string_view name = line.substr(0, space);
  const std::string_view arg = space == std::string_view::npos ? "" : trim(line.substr(space + 1));
  command(id, *member, name, arg);
}

void ChatRoom::command(ClientId id, Member& member, std::string_view name, std::string_view arg) {
  if (name == "/nick") {
    rename(id, member, arg);
  } else if (name == "/who") {
    std::vector<std::string_view> nicks;
    for (const auto& [other, m] : members_) nicks.push_back(m.nick);
    std::sort(nicks.begin(), nicks.end());
    send_to(id, fmt::format("* {} online: {}\n", nicks.size(), fmt::join(nicks, ", ")));
  } else if (name == "/me") {
    if (arg.empty()) {
      send_to(id, "! /me needs an action, e.g. /me waves\n");
      return;
    }
    broadcast(fmt::format("* {} {}\n", member.nick, arg), id);
  } else if (name == "/quit") {
    send_to(id, "* bye\n");
    member.close_after_flush = true;
    member.leave_reason = arg.empty() ? "quit" : fmt::format("quit: {}", arg);
    mark_changed(id, member);
  } else {
    send_to(id, fmt::format("! unknown command {} ({})\n", name, kHelp));
  }
}

void ChatRoom::rename(ClientId id, Member& member, std::string_view nick) {
  if (!valid_nick(nick)) {
    send_to(id, "! a nickname is 1-16 of A-Z a-z 0-9 _ -\n");
  } else if (nick == member.nick) {
    send_to(id, fmt::format("* you are already {}\n", nick));
  } else if (nick_taken(nick)) {
    send_to(id, fmt::format("! {} is taken\n", nick));
  } else {
    std::string old = std::exchange(member.nick, std::string(nick));
    send_to(id, fmt::format("* you are now {}\n", member.nick));
    broadcast(fmt::format("* {} is now known as {}\n", old, member.nick), id);
  }
}

void ChatRoom::line_too_long(ClientId id) {
  Member* member = find(id);
  if (member == nullptr || member->close_now || member->close_after_flush) return;
  send_to(id, fmt::format("! line longer than {} bytes: closing\n", options_.max_line));
  member->close_after_flush = true;
  member->leave_reason = "sent a line that was too long";
  mark_changed(id, *member);
}

bool ChatRoom::nick_taken(std::string_view nick) const {
  return std::any_of(members_.begin(), members_.end(),
                     [nick](const auto& entry) { return entry.second.nick == nick; });
}

void ChatRoom::send_to(ClientId id, std::string_view text) {
  if (Member* member = find(id)) enqueue(id, *member, text);
}

void ChatRoom::broadcast(std::string_view text, ClientId sender) {
  // [lab11:chat-fan-out:begin]
  // [lab11:chat-fan-out:stub] // Until this is written, nobody hears anybody.
  // [lab11:chat-fan-out:stub] (void)text;
  // [lab11:chat-fan-out:stub] (void)sender;
  for (auto& [id, member] : members_) {
    if (id == sender) continue;
    enqueue(id, member, text);  // never waits: a full queue closes that member only
  }
  // [lab11:chat-fan-out:end]
}

void ChatRoom::enqueue(ClientId id, Member& member, std::string_view text) {
  // [lab11:chat-slow-reader:begin]
  // [lab11:chat-slow-reader:stub] // Until this is written, every queue grows without limit.
  // [lab11:chat-slow-reader:stub] member.out.append(text);
  // [lab11:chat-slow-reader:stub] mark_changed(id, member);
  if (member.close_now) return;  // already on its way out: queue nothing more
  if (member.out.readable_bytes() + text.size() > options_.max_queued) {
    member.close_now = true;
    member.leave_reason =
        fmt::format("too slow: {} bytes queued", member.out.readable_bytes() + text.size());
    member.out.retrieve_all();  // it will never be sent: give the memory back now
  } else {
    member.out.append(text);
  }
  mark_changed(id, member);
  // [lab11:chat-slow-reader:end]
}

void ChatRoom::touch(ClientId id) {
  if (Member* member = find(id)) mark_changed(id, *member);
}

void ChatRoom::mark_changed(ClientId id, Member& member) {
  if (member.changed) return;
  member.changed = true;
  changed_.push_back(id);
}

std::vector<ClientId> ChatRoom::take_changed() {
  std::vector<ClientId> ids = std::move(changed_);
  changed_.clear();
  for (ClientId id : ids)
    if (Member* member = find(id)) member->changed = false;
  return ids;
}

}  // namespace serverlab::chat
