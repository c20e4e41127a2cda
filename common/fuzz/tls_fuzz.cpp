// tls_fuzz.cpp: libFuzzer target for the server side of the TLS layer.
//
// Built and run by tools/fuzz.sh tls (clang, -fsanitize=fuzzer,address,undefined);
// not part of the CMake build. Each input is what a hostile client might send
// to a TLS port: its first byte picks how the rest is cut into feed() calls
// (1 to 256 bytes each, as a slow or bursty network would deliver it), and
// after each piece the session runs as a driver would run it (advance(), then
// read() once Open). Then the peer "closes" (feed_eof()). Beyond "does not
// crash, leak or read out of bounds", it traps when a promise is broken:
//   - after EOF no session is still Handshaking (no handshake can hang);
//   - every session is counted exactly once: as a handshake or a failure;
//   - a Failed session has a reason and a message;
//   - no session ever wants to read after it has failed.
// The server context (test certificates from tools/make-test-certs.sh, in the
// directory named by TLS_FUZZ_CERTS) asks for client certificates, so the
// certificate-parsing paths are reachable.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "serverlab/tls/context.hpp"
#include "serverlab/tls/session.hpp"

namespace {

using namespace serverlab::tls;

void require(bool ok) {
  if (!ok) __builtin_trap();
}

std::unique_ptr<TlsContext> g_ctx;
std::uint64_t g_sessions = 0;

std::uint64_t counted(const TlsCounters& c) {
  std::uint64_t n = c.handshakes.load();
  for (const auto& f : c.failures) n += f.load();
  return n;
}

void drive(TlsSession& s) {
  if (s.advance() != TlsSession::State::Open) return;
  char buf[4096];
  while (s.read(buf, sizeof buf).status == TlsSession::Io::Status::Ok) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* dir = std::getenv("TLS_FUZZ_CERTS");
  if (dir == nullptr) {
    std::fprintf(stderr, "tls_fuzz: set TLS_FUZZ_CERTS to a tools/make-test-certs.sh directory\n");
    std::exit(2);
  }
  ServerOptions o;
  o.cert_file = std::string(dir) + "/server-chain.pem";
  o.key_file = std::string(dir) + "/server.key";
  o.client_ca_file = std::string(dir) + "/ca.pem";
  o.verify_client = VerifyClient::Optional;
  g_ctx = std::make_unique<TlsContext>(TlsContext::server(o));
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t piece = static_cast<std::size_t>(data[0]) + 1;
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);

  TlsSession s(*g_ctx);
  ++g_sessions;
  while (!rest.empty()) {
    std::string_view chunk = rest.substr(0, piece);
    rest.remove_prefix(chunk.size());
    s.feed(chunk);
    drive(s);
    s.take_output();  // what would go back to the client
  }
  s.feed_eof();
  drive(s);
  s.take_output();

  require(s.state() != TlsSession::State::Handshaking);
  if (s.state() == TlsSession::State::Failed) {
    require(s.failure() != Failure::None);
    require(!s.error().empty());
    require(!s.wants_read());
  }
  require(counted(g_ctx->counters()) == g_sessions);
  return 0;
}
