// Unit tests of ChatRoom, the chat server's protocol and fan-out without sockets
// (stage4-epoll/chat_room.hpp). Each test drives the room by calls and reads what it
// queued for each member, so it can check exactly who was told what.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "chat_room.hpp"

namespace {

using serverlab::chat::ChatRoom;
using serverlab::chat::ClientId;
using serverlab::chat::RoomOptions;
using serverlab::chat::valid_nick;

// Everything queued for `id`, consumed (as if the driver had sent it).
std::string take(ChatRoom& room, ClientId id) {
  auto* member = room.find(id);
  if (member == nullptr) return "<gone>";
  std::string text(member->out.view());
  member->out.retrieve_all();
  return text;
}

TEST(ChatRoom, JoinGreetsTheNewcomerAndTellsTheOthers) {
  ChatRoom room;
  ClientId a = room.join();
  EXPECT_EQ(take(room, a).rfind("* welcome, you are guest1 (", 0), 0u);
  ClientId b = room.join();
  EXPECT_EQ(take(room, a), "* guest2 joined\n");
  EXPECT_EQ(take(room, b).rfind("* welcome, you are guest2", 0), 0u);
}

TEST(ChatRoom, ALineGoesToEveryoneButItsSender) {
  ChatRoom room;
  ClientId a = room.join(), b = room.join(), c = room.join();
  for (ClientId id : {a, b, c}) take(room, id);
  room.on_line(b, "hello there\r");
  EXPECT_EQ(take(room, a), "<guest2> hello there\n");
  EXPECT_EQ(take(room, b), "");
  EXPECT_EQ(take(room, c), "<guest2> hello there\n");
  room.on_line(a, "");  // an empty line says nothing
  EXPECT_EQ(take(room, b), "");
}

TEST(ChatRoom, NickWhoMeAndUnknownCommands) {
  ChatRoom room;
  ClientId a = room.join(), b = room.join();
  take(room, a);
  take(room, b);
  room.on_line(a, "/nick alice");
  EXPECT_EQ(take(room, a), "* you are now alice\n");
  EXPECT_EQ(take(room, b), "* guest1 is now known as alice\n");
  room.on_line(b, "/nick alice");
  EXPECT_EQ(take(room, b), "! alice is taken\n");
  room.on_line(b, "/nick bad name!");
  EXPECT_EQ(take(room, b), "! a nickname is 1-16 of A-Z a-z 0-9 _ -\n");
  room.on_line(b, "/who");
  EXPECT_EQ(take(room, b), "* 2 online: alice, guest2\n");
  room.on_line(a, "/me waves");
  EXPECT_EQ(take(room, b), "* alice waves\n");
  EXPECT_EQ(take(room, a), "");
  room.on_line(a, "/dance");
  EXPECT_EQ(take(room, a).rfind("! unknown command /dance", 0), 0u);
  EXPECT_EQ(take(room, b), "");
  EXPECT_TRUE(valid_nick("a_b-9"));
  EXPECT_FALSE(valid_nick(""));
  EXPECT_FALSE(valid_nick("seventeen_chars__"));
}

TEST(ChatRoom, ANewcomerNeverGetsATakenGuestName) {
  ChatRoom room;
  ClientId a = room.join();
  room.on_line(a, "/nick guest2");
  ClientId b = room.join();
  EXPECT_EQ(room.find(b)->nick, "guest2_");
}

TEST(ChatRoom, QuitSaysByeThenTheOthersHearWhy) {
  ChatRoom room;
  ClientId a = room.join(), b = room.join();
  take(room, a);
  take(room, b);
  room.on_line(a, "/quit off to lunch");
  EXPECT_EQ(take(room, a), "* bye\n");
  EXPECT_TRUE(room.find(a)->close_after_flush);
  room.leave(a, "ignored: the member's own reason wins");
  EXPECT_EQ(room.find(a), nullptr);
  EXPECT_EQ(take(room, b), "* guest1 left (quit: off to lunch)\n");
}

TEST(ChatRoom, ASlowReaderIsDisconnectedAndNobodyElseLosesALine) {
  ChatRoom room(RoomOptions{.max_queued = 1000, .max_line = 100});
  ClientId slow = room.join(), fast = room.join(), talker = room.join();
  for (ClientId id : {slow, fast, talker}) take(room, id);
  std::string line(40, 'x');
  std::string heard;
  int sent = 0;
  while (!room.find(slow)->close_now && sent < 1000) {  // the slow one never reads
    room.on_line(talker, line);
    ++sent;
    heard += take(room, fast);  // the fast one reads after every line
  }
  ASSERT_TRUE(room.find(slow)->close_now) << "never disconnected after " << sent << " lines";
  EXPECT_LE(room.find(slow)->out.readable_bytes(), 1000u);
  EXPECT_EQ(room.find(slow)->leave_reason.rfind("too slow: ", 0), 0u);
  // Each line is "<guest3> " + 40 x's + "\n" = 50 bytes: 20 fit in 1000, the 21st does not.
  EXPECT_EQ(sent, 21);
  std::string expected;
  for (int i = 0; i < sent; ++i) expected += "<guest3> " + line + "\n";
  EXPECT_EQ(heard, expected);
  room.leave(slow, "closed");
  EXPECT_EQ(take(room, fast), "* guest1 left (too slow: 1050 bytes queued)\n");
}

TEST(ChatRoom, TakeChangedListsEachChangedMemberOnce) {
  ChatRoom room;
  ClientId a = room.join(), b = room.join();
  room.take_changed();
  room.on_line(a, "one");
  room.on_line(a, "two");
  EXPECT_EQ(room.take_changed(), std::vector<ClientId>{b});
  EXPECT_TRUE(room.take_changed().empty());
}

TEST(ChatRoom, ALongLineIsAnsweredThenTheMemberClosed) {
  ChatRoom room(RoomOptions{.max_queued = 4096, .max_line = 100});
  ClientId a = room.join();
  take(room, a);
  room.line_too_long(a);
  EXPECT_EQ(take(room, a), "! line longer than 100 bytes: closing\n");
  EXPECT_TRUE(room.find(a)->close_after_flush);
}

}  // namespace
