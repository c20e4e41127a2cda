// tls/context.hpp: TlsContext, the configuration every TLS connection of one
// server (or one client) is made from: certificate chain, private key, trusted
// CAs, protocol versions, ciphers, ALPN, session tickets, client verification.
//
// Why: the settings are the same for every connection, and checking them once
// at start-up is how a server fails early and clearly. TlsContext::server()
// reads the PEM files and throws TlsError naming the file and OpenSSL's reason
// ("tls: certificate /etc/x.pem: no start line"); main() prints it and exits 1.
// No message ever contains key material: OpenSSL's reasons name what failed,
// never the bytes, and an encrypted key is refused instead of prompting.
//
// What every context does (the policy is fixed, not a flag):
//   - TLS 1.2 and TLS 1.3 only; TLS 1.2 uses ECDHE with AES-GCM or ChaCha20 only
//     (forward secrecy, AEAD); TLS 1.3 uses OpenSSL's default suites;
//   - no renegotiation, no compression;
//   - servers issue session tickets (stateless resumption) with a key made
//     when the context is made, so a process that forks after making the
//     context (stage 5) shares it with its workers;
//   - ALPN: the server picks the first of its protocols the client offers
//     ("http/1.1" by default) and refuses a client that offers only others.
//
// Who may call: main() of a server or client, once at start-up, before threads
// or workers start. After that a context is read-only and may be shared by any
// number of threads (OpenSSL's SSL_CTX is thread-safe once configured); the
// counters are atomics. A context must outlive every TlsSession made from it.
// Limits: one certificate per context (no SNI-based selection), PEM files only,
// no OCSP stapling, no CRLs.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

// OpenSSL's context type, declared here so users of this header need not
// include OpenSSL's headers.
struct ssl_ctx_st;

namespace serverlab::tls {

// A configuration error found at start-up: a missing, unreadable or invalid
// file, or a certificate and key that do not belong together. what() names the
// file and gives OpenSSL's reason.
class TlsError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// How a server treats client certificates (mutual TLS).
enum class VerifyClient {
  Off,       // never asks for one
  Optional,  // asks; a client without one is let in, a bad one is refused
  Require,   // asks; a client without a valid one is refused
};

// Parses "off" | "optional" | "require" (a --tls-verify-client value); returns
// false for anything else.
bool parse_verify_client(std::string_view text, VerifyClient& out);

struct ServerOptions {
  std::string cert_file;       // PEM: the server certificate, then any intermediates
  std::string key_file;        // PEM: its private key, unencrypted
  std::string client_ca_file;  // PEM: CAs that sign client certificates (mTLS); may be empty
  VerifyClient verify_client = VerifyClient::Off;  // not Off needs client_ca_file
  std::vector<std::string> alpn = {"http/1.1"};    // in order of preference
};

struct ClientOptions {
  std::string ca_file;    // PEM: CAs to trust; empty means the system's default store
  std::string cert_file;  // optional client certificate (mTLS) ...
  std::string key_file;   // ... and its key; both or neither
  bool verify_server = true;                     // false only in tests that need it
  std::vector<std::string> alpn = {"http/1.1"};  // offered to the server; may be empty
};

// Why a handshake failed, for the counters and for the log line.
enum class Failure : std::uint8_t {
  None,
  PlainHttp,        // the client spoke plain HTTP to the TLS port
  NotTls,           // the bytes were not TLS records at all
  Protocol,         // TLS, but no common version, cipher or ALPN protocol
  PeerCertificate,  // the peer's certificate was missing, expired or untrusted
  PeerClosed,       // EOF or reset before the handshake finished
  Timeout,          // the driver's handshake timer fired (see TlsSession::fail_timeout)
  Other,            // anything else OpenSSL reported
};
inline constexpr std::size_t kFailureKinds = 8;
std::string_view failure_name(Failure f);  // "plain_http", "not_tls", ...

// Counters shared by all sessions of one context. Relaxed atomics: a reader
// (a /-/metrics scrape) sees each at some recent value.
struct TlsCounters {
  std::atomic<std::uint64_t> handshakes{0};   // completed handshakes
  std::atomic<std::uint64_t> resumptions{0};  // of which resumed a session (ticket)
  std::array<std::atomic<std::uint64_t>, kFailureKinds> failures{};  // indexed by Failure

  std::uint64_t failed(Failure f) const {
    return failures[static_cast<std::size_t>(f)].load(std::memory_order_relaxed);
  }
};

class TlsContext {
 public:
  // Both throw TlsError on any problem with the options or the files.
  static TlsContext server(const ServerOptions& options);
  static TlsContext client(const ClientOptions& options);

  TlsContext(TlsContext&&) noexcept;
  TlsContext& operator=(TlsContext&&) noexcept;
  ~TlsContext();

  bool is_server() const { return server_; }
  ssl_ctx_st* native() const { return ctx_; }  // for TlsSession and for tests
  TlsCounters& counters() const { return *counters_; }

 private:
  TlsContext(ssl_ctx_st* ctx, bool server);

  ssl_ctx_st* ctx_ = nullptr;
  bool server_ = false;
  std::unique_ptr<TlsCounters> counters_;
  std::unique_ptr<std::string> alpn_wire_;  // the server's ALPN list, read by a callback
};

}  // namespace serverlab::tls
