// --max-conns-per-ip seen from outside (docs/MIDDLEWARE.md, "Connections per
// address"): one client address may hold at most N open connections; the next
// one gets 429 Too Many Requests with Retry-After and is closed, while other
// addresses are served; closing one connection frees its place.
//
// Registered for stages 3, 4 and 5 (stage 5 with one worker: each worker counts
// its own connections). Not for stage 2: it serves one connection at a time, so
// an address never holds two and the limit cannot refuse anything there.
// Clients bind source addresses in 127.0.0.0/8 (all local on Linux).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <thread>

#include "conformance.hpp"
#include "serverlab/sys_error.hpp"

namespace serverlab::conformance {
namespace {

// One keep-alive GET of /hello.txt on `c`: the status (0: no answer).
int get_hello(HttpClient& c) {
  if (!c.send(request("GET", "/hello.txt"))) return 0;
  auto r = c.read_response();
  return r ? r->status : 0;
}

class ConnLimit : public PrivateServerTest {};

TEST_F(ConnLimit, TheConnectionOverTheLimitGets429AndOtherAddressesAreServed) {
  constexpr int kLimit = 3;
  auto& srv = start({"--max-conns-per-ip", std::to_string(kLimit)});
  // kLimit connections from one address, each answered once: all accepted, all open.
  std::vector<HttpClient> held;
  for (int i = 0; i < kLimit; ++i) {
    held.push_back(HttpClient::connect_from(srv, "127.0.0.2"));
    ASSERT_EQ(get_hello(held.back()), 200) << "connection " << i << "\n" << srv.stderr_text();
  }

  // One more from the same address: 429 with Retry-After, then the server closes.
  HttpClient over = HttpClient::connect_from(srv, "127.0.0.2");
  over.send(request("GET", "/hello.txt"));
  auto refused = over.read_response();
  ASSERT_TRUE(refused) << over.error();
  EXPECT_EQ(refused->status, 429) << refused->wire();
  EXPECT_EQ(refused->header("Retry-After").value_or(""), "1") << refused->wire();
  EXPECT_TRUE(refused->closes()) << refused->wire();
  EXPECT_TRUE(over.closed_by_peer()) << "the refused connection stays open";

  // Another address is not affected, and the held connections still work.
  HttpClient other = HttpClient::connect_from(srv, "127.0.0.3");
  EXPECT_EQ(get_hello(other), 200);
  EXPECT_EQ(get_hello(held.front()), 200);

  // Closing one frees its place: a new connection from the address is served
  // (once the server has seen the close; asked again for at most 5 s).
  held.back().close();
  int status = 0;
  for (int i = 0; i < 100 && status != 200; ++i) {
    HttpClient again = HttpClient::connect_from(srv, "127.0.0.2");
    status = get_hello(again);
    if (status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(status, 200) << "a closed connection's place was never given back";

  // /-/metrics counts the refusals (asked from the other address's connection).
  ASSERT_TRUE(other.send(request("GET", "/-/metrics")));
  auto m = other.read_response();
  ASSERT_TRUE(m) << other.error();
  EXPECT_GE(metric(m->body, "serverlab_conn_limit_refused"), 1) << m->body;
  EXPECT_GE(metric(m->body, "serverlab_conn_limit_addresses"), 2) << m->body;
}

TEST_F(ConnLimit, WithoutTheFlagAnAddressMayOpenManyConnections) {
  auto& srv = start({});
  std::vector<HttpClient> held;
  for (int i = 0; i < 12; ++i) {
    held.push_back(HttpClient::connect_from(srv, "127.0.0.2"));
    ASSERT_EQ(get_hello(held.back()), 200) << "connection " << i;
  }
}

}  // namespace
}  // namespace serverlab::conformance
