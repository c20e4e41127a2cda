// Http2Session, driven by hand: frames in through input()/on_input(), frames out
// through output()/wrote(). No sockets. The client side is libnghttp2's own client
// session (so requests are real HPACK-encoded HEADERS), and for the attacks and the
// malformed frames, frames written byte by byte with append_frame_header().
#include "serverlab/http2/session.hpp"

#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "http_test_support.hpp"
#include "serverlab/http2/frame.hpp"

namespace serverlab::http2 {
namespace {

using http::test::TempDir;
using Want = Http2Session::Want;

// What the client saw of one stream.
struct Reply {
  std::map<std::string, std::string> headers;
  std::string body;
  bool closed = false;
  std::uint32_t reset_code = 0;  // the stream's close code (0: it ended normally)
  std::string status() const {
    auto it = headers.find(":status");
    return it == headers.end() ? "" : it->second;
  }
};

// A minimal HTTP/2 client over libnghttp2, with no I/O either: its output is fed
// to the server by pump_to(), the server's output to it.
class Client {
 public:
  Client() {
    nghttp2_session_callbacks* cb = nullptr;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_header_callback(
        cb, [](nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
               std::size_t name_length, const std::uint8_t* value, std::size_t value_length,
               std::uint8_t, void* self) {
          auto& c = *static_cast<Client*>(self);
          c.replies[frame->hd.stream_id].headers[std::string(
              reinterpret_cast<const char*>(name), name_length)] =
              std::string(reinterpret_cast<const char*>(value), value_length);
          return 0;
        });
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
        cb, [](nghttp2_session*, std::uint8_t, std::int32_t id, const std::uint8_t* data,
               std::size_t length, void* self) {
          static_cast<Client*>(self)->replies[id].body.append(reinterpret_cast<const char*>(data),
                                                              length);
          return 0;
        });
    nghttp2_session_callbacks_set_on_stream_close_callback(
        cb, [](nghttp2_session*, std::int32_t id, std::uint32_t code, void* self) {
          auto& r = static_cast<Client*>(self)->replies[id];
          r.closed = true;
          r.reset_code = code;
          return 0;
        });
    nghttp2_session_callbacks_set_on_frame_recv_callback(
        cb, [](nghttp2_session*, const nghttp2_frame* frame, void* self) {
          auto& c = *static_cast<Client*>(self);
          if (frame->hd.type == NGHTTP2_GOAWAY) c.goaway = static_cast<int>(frame->goaway.error_code);
          if (frame->hd.type == NGHTTP2_SETTINGS && (frame->hd.flags & NGHTTP2_FLAG_ACK) == 0) {
            for (std::size_t i = 0; i < frame->settings.niv; ++i)
              c.settings[frame->settings.iv[i].settings_id] = frame->settings.iv[i].value;
          }
          return 0;
        });
    nghttp2_session_client_new(&session, cb, this);
    nghttp2_session_callbacks_del(cb);
    nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, nullptr, 0);
  }
  ~Client() { nghttp2_session_del(session); }

  // Submits a request; returns its stream id.
  std::int32_t request(const std::string& method, const std::string& path,
                       std::vector<std::pair<std::string, std::string>> extra = {}) {
    std::vector<std::pair<std::string, std::string>> fields = {
        {":method", method}, {":scheme", "http"}, {":authority", "test"}, {":path", path}};
    fields.insert(fields.end(), extra.begin(), extra.end());
    std::vector<nghttp2_nv> nv;
    for (auto& [name, value] : fields) {
      nv.push_back({reinterpret_cast<std::uint8_t*>(name.data()),
                    reinterpret_cast<std::uint8_t*>(value.data()), name.size(), value.size(),
                    NGHTTP2_NV_FLAG_NONE});
    }
    return nghttp2_submit_request(session, nullptr, nv.data(), nv.size(), nullptr, nullptr);
  }

  // Moves bytes both ways until neither side has anything to say (or `rounds` run out).
  // Records the largest output the server ever held.
  void exchange(Http2Session& server, int rounds = 10000) {
    for (int i = 0; i < rounds; ++i) {
      bool moved = false;
      const std::uint8_t* data = nullptr;
      ssize_t n;
      while ((n = nghttp2_session_mem_send(session, &data)) > 0) {
        server.input().append(data, static_cast<std::size_t>(n));
        moved = true;
      }
      if (!server.input().empty()) server.on_input();
      const std::string_view out = server.output();
      max_server_output = std::max(max_server_output, out.size());
      if (!out.empty()) {
        received.append(out);
        nghttp2_session_mem_recv(session, reinterpret_cast<const std::uint8_t*>(out.data()),
                                 out.size());
        server.wrote(out.size());
        moved = true;
      }
      if (!moved) return;
    }
  }

  nghttp2_session* session = nullptr;
  std::map<std::int32_t, Reply> replies;
  std::map<std::int32_t, std::uint32_t> settings;
  std::string received;  // every byte the server sent
  std::size_t max_server_output = 0;
  int goaway = -1;
};

class Http2SessionTest : public ::testing::Test {
 protected:
  Http2SessionTest() {
    root_.write("a.txt", "alpha\n");
    root_.write("index.html", "<p>home</p>\n");
    root_.mkdir("sub");
    root_.write("sub/page.txt", "a page in sub\n");
    big_.resize(1024 * 1024 + 7);
    for (std::size_t i = 0; i < big_.size(); ++i) big_[i] = static_cast<char>((i * 7 + i / 251) & 0xff);
    root_.write("big.bin", big_);
    config_.root = root_.path();
  }
  http::HttpService& service() {
    if (!service_) service_ = std::make_unique<http::HttpService>(config_, &metrics_);
    return *service_;
  }
  // Plays whole requests through a fresh session; one reply per request.
  Reply get(const std::string& path, std::vector<std::pair<std::string, std::string>> extra = {},
            const std::string& method = "GET") {
    Http2Session server(service(), "127.0.0.1");
    Client client;
    const std::int32_t id = client.request(method, path, std::move(extra));
    client.exchange(server);
    return client.replies[id];
  }
  // The server's answer to raw bytes: what it sent, and its state afterwards.
  struct RawResult {
    std::string sent;
    std::int64_t goaway = -1;
    Want want = Want::Read;
  };
  RawResult raw(Http2Session& server, const std::string& bytes) {
    server.input().append(bytes);
    server.on_input();
    RawResult r;
    while (!server.output().empty()) {
      r.sent.append(server.output());
      server.wrote(server.output().size());
    }
    r.goaway = server.goaway_code();
    r.want = server.want();
    return r;
  }

  TempDir root_;
  std::string big_;
  http::HttpConfig config_;
  Metrics metrics_;
  std::unique_ptr<http::HttpService> service_;
};

// A frame: header then payload.
std::string frame(FrameType type, std::uint8_t flags, std::uint32_t stream,
                  const std::string& payload) {
  std::string out;
  append_frame_header(out, {static_cast<std::uint32_t>(payload.size()),
                            static_cast<std::uint8_t>(type), flags, stream});
  return out + payload;
}

// The client's opening: preface and an empty SETTINGS frame.
std::string opening() {
  return std::string(kClientPreface) + frame(FrameType::Settings, 0, 0, "");
}

// HPACK for ":method GET", ":scheme http", ":path /" (static table indices 2, 6, 4)
// and ":authority test" (literal, indexed name 1).
const std::string kGetRootBlock = std::string("\x82\x86\x84\x41\x04test", 9);

TEST(Http2Frame, ParsesTheNineByteHeader) {
  const std::string bytes("\x00\x40\x01\x04\x05\x80\x00\x00\x07", 9);
  auto h = parse_frame_header(bytes);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->length, 0x4001u);
  EXPECT_EQ(h->type, 0x04);
  EXPECT_EQ(h->flags, 0x05);
  EXPECT_EQ(h->stream_id, 7u);  // the reserved bit is dropped
  EXPECT_FALSE(parse_frame_header(bytes.substr(0, 8)));
  std::string again;
  append_frame_header(again, *h);
  EXPECT_EQ(again, std::string("\x00\x40\x01\x04\x05\x00\x00\x00\x07", 9));
}

TEST(Http2Frame, RecognisesThePreface) {
  EXPECT_EQ(match_preface(""), PrefaceMatch::Partial);
  EXPECT_EQ(match_preface("PRI * HTTP/2"), PrefaceMatch::Partial);
  EXPECT_EQ(match_preface(std::string(kClientPreface) + "xyz"), PrefaceMatch::Yes);
  EXPECT_EQ(match_preface("PUT / HTTP/1.1\r\n"), PrefaceMatch::No);
  EXPECT_EQ(match_preface("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), PrefaceMatch::No);
}

TEST_F(Http2SessionTest, FirstFrameIsSettingsWithOurLimits) {
  Http2Session server(service(), "127.0.0.1");
  auto h = parse_frame_header(server.output());
  ASSERT_TRUE(h);
  EXPECT_EQ(h->type, static_cast<std::uint8_t>(FrameType::Settings));
  EXPECT_EQ(h->stream_id, 0u);
  EXPECT_EQ(h->flags & kFlagAck, 0);
  Client client;
  client.exchange(server);
  EXPECT_EQ(client.settings[NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS], 100u);
  EXPECT_EQ(client.settings[NGHTTP2_SETTINGS_ENABLE_PUSH], 0u);
  EXPECT_EQ(client.settings[NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE], config_.max_header_bytes);
}

TEST_F(Http2SessionTest, GetServesTheFileLikeHttp1) {
  Reply r = get("/a.txt");
  EXPECT_TRUE(r.closed);
  EXPECT_EQ(r.reset_code, 0u);
  EXPECT_EQ(r.status(), "200");
  EXPECT_EQ(r.body, "alpha\n");
  EXPECT_EQ(r.headers["content-length"], "6");
  EXPECT_EQ(r.headers["content-type"], "text/plain; charset=utf-8");
  EXPECT_FALSE(r.headers["etag"].empty());
  EXPECT_EQ(r.headers["cache-control"], "no-cache");  // an extra header, name lowercased
  EXPECT_EQ(r.headers.count("connection"), 0u);
  EXPECT_EQ(metrics_.requests_total(), 1u);  // counted like an HTTP/1.1 request
}

TEST_F(Http2SessionTest, HeadHasLengthButNoBody) {
  Reply r = get("/a.txt", {}, "HEAD");
  EXPECT_EQ(r.status(), "200");
  EXPECT_EQ(r.headers["content-length"], "6");
  EXPECT_EQ(r.body, "");
}

TEST_F(Http2SessionTest, MissingFileIs404WithTheErrorPage) {
  Reply r = get("/nope.txt");
  EXPECT_EQ(r.status(), "404");
  EXPECT_NE(r.body.find("404"), std::string::npos);
  EXPECT_EQ(r.headers["content-length"], std::to_string(r.body.size()));
}

TEST_F(Http2SessionTest, ConditionalGetIs304) {
  const std::string etag = get("/a.txt").headers["etag"];
  ASSERT_FALSE(etag.empty());
  Reply r = get("/a.txt", {{"if-none-match", etag}});
  EXPECT_EQ(r.status(), "304");
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(r.headers["etag"], etag);
}

TEST_F(Http2SessionTest, RangeIs206) {
  Reply r = get("/big.bin", {{"range", "bytes=100-199"}});
  EXPECT_EQ(r.status(), "206");
  EXPECT_EQ(r.body, big_.substr(100, 100));
  EXPECT_EQ(r.headers["content-range"], "bytes 100-199/" + std::to_string(big_.size()));
}

// A multipart range body is pieces of text (each part's head) and of the file in
// turn; one DATA frame carries several of them, written straight into the output.
TEST_F(Http2SessionTest, MultipartRangeCrossesPiecesWithinAFrame) {
  Reply r = get("/big.bin", {{"range", "bytes=0-9,100-109,5000-5999"}});
  EXPECT_EQ(r.status(), "206");
  EXPECT_TRUE(r.headers["content-type"].starts_with("multipart/byteranges; boundary="));
  EXPECT_EQ(std::to_string(r.body.size()), r.headers["content-length"]);
  const std::size_t first = r.body.find(big_.substr(0, 10));
  const std::size_t second = r.body.find(big_.substr(100, 10));
  const std::size_t third = r.body.find(big_.substr(5000, 1000));
  EXPECT_NE(first, std::string::npos);
  EXPECT_NE(second, std::string::npos);
  EXPECT_NE(third, std::string::npos);
  EXPECT_LT(first, second);
  EXPECT_LT(second, third);
  EXPECT_NE(r.body.find("Content-Range: bytes 100-109/"), std::string::npos);
}

TEST_F(Http2SessionTest, DirectoryRedirectAndListing) {
  Reply r = get("/sub?x=1");
  EXPECT_EQ(r.status(), "301");
  EXPECT_EQ(r.headers["location"], "/sub/?x=1");
  Reply listing = get("/sub/");
  EXPECT_EQ(listing.status(), "200");
  EXPECT_NE(listing.body.find("page.txt"), std::string::npos);
}

TEST_F(Http2SessionTest, PostIs405) {
  Reply r = get("/a.txt", {}, "POST");
  EXPECT_EQ(r.status(), "405");
  EXPECT_EQ(r.headers["allow"], "GET, HEAD");
}

TEST_F(Http2SessionTest, BigFileArrivesWholeWithBoundedOutput) {
  Http2Session server(service(), "127.0.0.1");
  Client client;
  const std::int32_t id = client.request("GET", "/big.bin");
  client.exchange(server);
  const Reply& r = client.replies[id];
  EXPECT_EQ(r.status(), "200");
  EXPECT_EQ(r.body.size(), big_.size());
  EXPECT_TRUE(r.body == big_);
  // Never the whole file at once: at most the high-water mark plus one frame.
  EXPECT_LE(client.max_server_output, Http2Session::kOutputHighWater + 16 * 1024 + 64);
  EXPECT_EQ(server.open_streams(), 0u);
}

TEST_F(Http2SessionTest, HundredConcurrentStreamsOnOneConnection) {
  Http2Session server(service(), "127.0.0.1");
  Client client;
  client.exchange(server);  // settings first, so the client knows the stream limit
  std::vector<std::int32_t> ids;
  for (int i = 0; i < 100; ++i) ids.push_back(client.request("GET", i % 2 ? "/a.txt" : "/big.bin"));
  client.exchange(server);
  for (int i = 0; i < 100; ++i) {
    const Reply& r = client.replies[ids[static_cast<std::size_t>(i)]];
    ASSERT_EQ(r.status(), "200") << "stream " << ids[static_cast<std::size_t>(i)];
    EXPECT_EQ(r.body.size(), i % 2 ? 6u : big_.size());
  }
  EXPECT_EQ(server.requests(), 100u);
  EXPECT_EQ(server.open_streams(), 0u);
}

TEST_F(Http2SessionTest, RecycledStreamsCarryNothingOver) {
  // One connection, one request at a time: each stream record is reused by the next.
  Http2Session server(service(), "127.0.0.1");
  Client client;
  auto ask = [&](const std::string& method, const std::string& path,
                 std::vector<std::pair<std::string, std::string>> extra = {}) {
    const std::int32_t id = client.request(method, path, std::move(extra));
    client.exchange(server);
    return client.replies[id];
  };
  Reply missing = ask("GET", "/nope.txt");
  Reply range = ask("GET", "/big.bin", {{"range", "bytes=0-9"}});
  Reply head = ask("HEAD", "/big.bin");
  Reply small = ask("GET", "/a.txt");
  EXPECT_EQ(missing.status(), "404");
  EXPECT_EQ(range.status(), "206");
  EXPECT_EQ(range.body, big_.substr(0, 10));
  EXPECT_EQ(head.status(), "200");
  EXPECT_EQ(head.body, "");
  EXPECT_EQ(head.headers.count("content-range"), 0u);
  EXPECT_EQ(small.status(), "200");
  EXPECT_EQ(small.body, "alpha\n");
  EXPECT_EQ(small.headers["content-length"], "6");
  EXPECT_EQ(server.requests(), 4u);
}

TEST_F(Http2SessionTest, HeaderListOverTheLimitIs431) {
  config_.max_header_bytes = 1024;
  Reply r = get("/a.txt", {{"x-big", std::string(2000, 'v')}});
  EXPECT_EQ(r.status(), "431");
  Reply many = get("/a.txt", [] {
    std::vector<std::pair<std::string, std::string>> v;
    for (int i = 0; i < 150; ++i) v.emplace_back("x-h" + std::to_string(i), "1");
    return v;
  }());
  EXPECT_EQ(many.status(), "431");
}

TEST_F(Http2SessionTest, RapidResetFloodEndsWithEnhanceYourCalm) {
  // The attack: HEADERS and at once RST_STREAM, stream after stream, in one burst.
  Http2Session server(service(), "127.0.0.1");
  std::string bytes = opening();
  const std::string cancel("\x00\x00\x00\x08", 4);  // error code CANCEL
  for (std::uint32_t i = 0; i < 150; ++i) {
    bytes += frame(FrameType::Headers, kFlagEndStream | kFlagEndHeaders, 2 * i + 1, kGetRootBlock);
    bytes += frame(FrameType::RstStream, 0, 2 * i + 1, cancel);
  }
  RawResult r = raw(server, bytes);
  EXPECT_EQ(r.goaway, NGHTTP2_ENHANCE_YOUR_CALM);
  EXPECT_EQ(server.resets_received(), 101u);  // the 101st passed the bound of 100
  EXPECT_LE(server.requests(), 101u);         // and no request after it was served
  EXPECT_EQ(r.want, Want::Close);
}

TEST_F(Http2SessionTest, ResetsBelowTheBoundAreFine) {
  Http2Session server(service(), "127.0.0.1");
  std::string bytes = opening();
  const std::string cancel("\x00\x00\x00\x08", 4);
  for (std::uint32_t i = 0; i < 50; ++i) {
    bytes += frame(FrameType::Headers, kFlagEndStream | kFlagEndHeaders, 2 * i + 1, kGetRootBlock);
    bytes += frame(FrameType::RstStream, 0, 2 * i + 1, cancel);
  }
  bytes += frame(FrameType::Headers, kFlagEndStream | kFlagEndHeaders, 101, kGetRootBlock);
  RawResult r = raw(server, bytes);
  EXPECT_EQ(r.goaway, -1);
  EXPECT_EQ(server.resets_received(), 50u);
  EXPECT_NE(r.sent.find("<p>home</p>"), std::string::npos);  // the last request is answered
  EXPECT_EQ(r.want, Want::Read);
}

TEST_F(Http2SessionTest, ContinuationFloodEndsWithEnhanceYourCalm) {
  Http2Session server(service(), "127.0.0.1");
  std::string bytes = opening();
  bytes += frame(FrameType::Headers, kFlagEndStream, 1, kGetRootBlock);  // no END_HEADERS
  // 12 empty CONTINUATIONs: past our bound (8), short of libnghttp2's own backstop (16).
  for (int i = 0; i < 12; ++i) bytes += frame(FrameType::Continuation, 0, 1, "");
  RawResult r = raw(server, bytes);
  EXPECT_EQ(r.goaway, NGHTTP2_ENHANCE_YOUR_CALM);
  EXPECT_EQ(r.want, Want::Close);
  EXPECT_EQ(server.requests(), 0u);
}

TEST_F(Http2SessionTest, AFewContinuationFramesAreFine) {
  Http2Session server(service(), "127.0.0.1");
  std::string bytes = opening();
  bytes += frame(FrameType::Headers, kFlagEndStream, 1, kGetRootBlock.substr(0, 2));
  bytes += frame(FrameType::Continuation, 0, 1, kGetRootBlock.substr(2, 2));
  bytes += frame(FrameType::Continuation, kFlagEndHeaders, 1, kGetRootBlock.substr(4));
  RawResult r = raw(server, bytes);
  EXPECT_EQ(r.goaway, -1);
  EXPECT_EQ(server.requests(), 1u);
  EXPECT_NE(r.sent.find("<p>home</p>"), std::string::npos);
}

TEST_F(Http2SessionTest, MalformedFramesGetGoawayAndClose) {
  struct Case {
    const char* what;
    std::string bytes;
    std::uint32_t code;
  };
  const std::vector<Case> cases = {
      {"SETTINGS of 5 bytes", frame(FrameType::Settings, 0, 0, "12345"), NGHTTP2_FRAME_SIZE_ERROR},
      {"DATA on stream 0", frame(FrameType::Data, 0, 0, "x"), NGHTTP2_PROTOCOL_ERROR},
      {"HEADERS on an even stream", frame(FrameType::Headers, 5, 2, kGetRootBlock),
       NGHTTP2_PROTOCOL_ERROR},
      {"garbage HPACK", frame(FrameType::Headers, 5, 1, "\xff\xff\xff\xff\xff"),
       NGHTTP2_COMPRESSION_ERROR},
      {"WINDOW_UPDATE of 0 on the connection", frame(FrameType::WindowUpdate, 0, 0, std::string(4, '\0')),
       NGHTTP2_PROTOCOL_ERROR},
  };
  for (const Case& c : cases) {
    Http2Session server(service(), "127.0.0.1");
    RawResult r = raw(server, opening() + c.bytes);
    EXPECT_EQ(r.goaway, c.code) << c.what;
    EXPECT_EQ(r.want, Want::Close) << c.what;
  }
}

TEST_F(Http2SessionTest, NotAPrefaceIsAProtocolError) {
  Http2Session server(service(), "127.0.0.1");
  RawResult r = raw(server, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(r.want, Want::Close);
}

TEST_F(Http2SessionTest, ShutdownFinishesStreamsInFlightThenCloses) {
  Http2Session server(service(), "127.0.0.1");
  Client client;
  const std::int32_t id = client.request("GET", "/big.bin");
  client.exchange(server, 3);  // the request is in, the body has only begun
  ASSERT_EQ(server.open_streams(), 1u);
  server.shutdown();
  client.exchange(server);
  EXPECT_EQ(client.goaway, NGHTTP2_NO_ERROR);
  EXPECT_EQ(client.replies[id].body.size(), big_.size());
  EXPECT_EQ(server.want(), Want::Close);
}

TEST_F(Http2SessionTest, IdleTimeoutSaysGoawayThenCloses) {
  Http2Session server(service(), "127.0.0.1");
  Client client;
  client.request("GET", "/a.txt");
  client.exchange(server);
  EXPECT_EQ(server.want(), Want::Read);
  server.on_timeout();  // the keep-alive deadline passed
  client.exchange(server);
  EXPECT_EQ(client.goaway, NGHTTP2_NO_ERROR);
  EXPECT_EQ(server.want(), Want::Close);
}

// With a driver's cached time, deadlines count from that time, not the clock's.
TEST_F(Http2SessionTest, DeadlinesFollowTheDriversCachedClock) {
  config_.keepalive_timeout = 7;
  Http2Session server(service(), "127.0.0.1");
  Http2Session::Clock::time_point now = Http2Session::Clock::now() - std::chrono::hours(1);
  server.use_clock(now);
  Client client;
  client.request("GET", "/a.txt");
  client.exchange(server);  // the request is answered: the keep-alive timeout runs
  EXPECT_EQ(server.deadline(), now + std::chrono::seconds(7));
  now += std::chrono::minutes(1);  // the driver's next loop iteration
  client.request("GET", "/a.txt");
  client.exchange(server);
  EXPECT_EQ(server.deadline(), now + std::chrono::seconds(7));
}

TEST_F(Http2SessionTest, TimeoutWithAStalledStreamClosesAtOnce) {
  Http2Session server(service(), "127.0.0.1");
  Client client;
  client.request("GET", "/big.bin");
  client.exchange(server, 3);
  ASSERT_EQ(server.open_streams(), 1u);
  server.on_timeout();  // the peer stopped reading
  EXPECT_EQ(server.want(), Want::Close);
}

TEST_F(Http2SessionTest, PeerEofSaysGoawayThenCloses) {
  Http2Session server(service(), "127.0.0.1");
  Client client;
  client.exchange(server);
  server.on_eof();
  client.exchange(server);
  EXPECT_EQ(client.goaway, NGHTTP2_NO_ERROR);
  EXPECT_EQ(server.want(), Want::Close);
}

}  // namespace
}  // namespace serverlab::http2
