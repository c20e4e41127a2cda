// Lab 11 (week 11), second part: the broadcast fan-out of chat-server
// (stage4-epoll/chat_room.cpp, ChatRoom::broadcast and ChatRoom::enqueue). Checks them
// through the room's public interface, with no sockets: members join, one speaks, and
// each member's output queue shows what it would be sent. Tags: [chat-fan-out]
// (every member but the sender gets the line, in order) and [chat-slow-reader] (a
// member whose queue would pass the limit is disconnected; nobody else loses a line).
#include <string>

#include <catch2/catch.hpp>

#include "chat_room.hpp"

using serverlab::chat::ChatRoom;
using serverlab::chat::ClientId;
using serverlab::chat::RoomOptions;

namespace {

// What is queued for `id`, consumed as the server's send would.
std::string take(ChatRoom& room, ClientId id) {
  auto* member = room.find(id);
  REQUIRE(member != nullptr);
  std::string text(member->out.view());
  member->out.retrieve_all();
  return text;
}

}  // namespace

TEST_CASE("a broadcast reaches every member except its sender", "[chat-fan-out]") {
  ChatRoom room;
  ClientId a = room.join(), b = room.join(), c = room.join();
  for (ClientId id : {a, b, c}) take(room, id);
  room.broadcast("one\n", b);
  room.broadcast("two\n", b);
  CHECK(take(room, a) == "one\ntwo\n");
  CHECK(take(room, b).empty());
  CHECK(take(room, c) == "one\ntwo\n");
}

TEST_CASE("a broadcast from nobody (sender 0) reaches everyone", "[chat-fan-out]") {
  ChatRoom room;
  ClientId a = room.join(), b = room.join();
  take(room, a);
  take(room, b);
  room.broadcast("* server news\n", 0);
  CHECK(take(room, a) == "* server news\n");
  CHECK(take(room, b) == "* server news\n");
}

TEST_CASE("members with news are listed for the server to send", "[chat-fan-out]") {
  ChatRoom room;
  ClientId a = room.join(), b = room.join(), c = room.join();
  room.take_changed();
  room.broadcast("hi\n", a);
  auto changed = room.take_changed();
  CHECK(changed == std::vector<ClientId>{b, c});
}

TEST_CASE("a member whose queue would pass the limit is disconnected, not blocked on",
          "[chat-slow-reader]") {
  ChatRoom room(RoomOptions{.max_queued = 100, .max_line = 50});
  ClientId slow = room.join(), fast = room.join();
  take(room, slow);
  take(room, fast);
  room.broadcast(std::string(60, 'x') + "\n", 0);  // 61 bytes: fits
  CHECK_FALSE(room.find(slow)->close_now);
  take(room, fast);
  room.broadcast(std::string(60, 'y') + "\n", 0);  // 122 bytes for slow: over 100
  CHECK(room.find(slow)->close_now);
  CHECK(room.find(slow)->out.readable_bytes() <= 100);
  CHECK(room.find(slow)->leave_reason.rfind("too slow", 0) == 0);
  CHECK(take(room, fast) == std::string(60, 'y') + "\n");  // the reader got its line
  room.broadcast("z\n", 0);  // the disconnected member gets nothing more
  CHECK(room.find(slow)->out.readable_bytes() <= 100);
  CHECK(take(room, fast) == "z\n");
}

TEST_CASE("a queue exactly at the limit is still fine", "[chat-slow-reader]") {
  ChatRoom room(RoomOptions{.max_queued = 100, .max_line = 50});
  ClientId m = room.join();
  take(room, m);
  room.send_to(m, std::string(100, 'q'));
  CHECK_FALSE(room.find(m)->close_now);
  CHECK(room.find(m)->out.readable_bytes() == 100);
}
