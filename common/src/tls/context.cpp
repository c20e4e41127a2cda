// context.cpp: TlsContext, built from PEM files with a fixed modern policy.
// Every OpenSSL failure becomes a TlsError naming the file and OpenSSL's reason.
#include "serverlab/tls/context.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

namespace serverlab::tls {
namespace {

// TLS 1.2 suites: ECDHE key exchange (forward secrecy) and AEAD ciphers only.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// The reason for the first (root-cause) OpenSSL error queued on this thread
// ("no start line", not the "PEM lib" that follows it), and an empty error
// queue afterwards.
std::string openssl_reason() {
  unsigned long code = ERR_peek_error();
  std::string text = "unknown OpenSSL error";
  if (code != 0) {
    const char* reason = ERR_reason_error_string(code);
    text = reason ? reason : "OpenSSL error " + std::to_string(ERR_GET_REASON(code));
  }
  ERR_clear_error();
  return text;
}

[[noreturn]] void fail(const std::string& what, const std::string& file) {
  throw TlsError("tls: " + what + " " + file + ": " + openssl_reason());
}

// Says "cannot read FILE: No such file or directory" in plain words before
// OpenSSL gets a chance to say something vaguer.
void require_readable(const std::string& what, const std::string& file) {
  if (file.empty()) throw TlsError("tls: no " + what + " file given");
  std::FILE* f = std::fopen(file.c_str(), "rb");
  if (f == nullptr) throw TlsError("tls: cannot read " + what + " " + file + ": " + std::strerror(errno));
  std::fclose(f);
}

// An encrypted key must never make OpenSSL prompt on the terminal: say "no
// password", so loading it fails with a reason instead.
int no_password(char*, int, int, void*) { return 0; }

SSL_CTX* new_ctx(const SSL_METHOD* method) {
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(method);
  if (ctx == nullptr) throw TlsError("tls: cannot make a context: " + openssl_reason());
  SSL_CTX_set_default_passwd_cb(ctx, no_password);
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1) {
    SSL_CTX_free(ctx);
    throw TlsError("tls: cannot set the protocol policy: " + openssl_reason());
  }
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  // An idle connection gives its record buffers (about 34 KiB) back to the heap
  // and takes them again when traffic comes: idle keep-alive connections stay cheap.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  return ctx;
}

void load_chain_and_key(SSL_CTX* ctx, const std::string& cert_file, const std::string& key_file) {
  require_readable("certificate", cert_file);
  require_readable("key", key_file);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1) fail("certificate", cert_file);
  // Loading the key also checks it against the certificate.
  if (SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    if (ERR_GET_REASON(ERR_peek_error()) == X509_R_KEY_VALUES_MISMATCH)
      fail("key", key_file + " does not match certificate " + cert_file);
    fail("key", key_file);
  }
  if (SSL_CTX_check_private_key(ctx) != 1)
    fail("key", key_file + " does not match certificate " + cert_file);
}

// ALPN's wire format: each protocol as a length byte then its name.
std::string alpn_wire(const std::vector<std::string>& protocols) {
  std::string wire;
  for (const std::string& p : protocols) {
    if (p.empty() || p.size() > 255) throw TlsError("tls: bad ALPN protocol name '" + p + "'");
    wire += static_cast<char>(p.size());
    wire += p;
  }
  return wire;
}

// Server side of ALPN: the first of our protocols that the client offers. A
// client that offers ALPN but none of ours is refused (RFC 7301, section 3.2).
int select_alpn(SSL*, const unsigned char** out, unsigned char* out_len, const unsigned char* in,
                unsigned int in_len, void* arg) {
  const auto* ours = static_cast<const std::string*>(arg);
  unsigned char* chosen = nullptr;
  int found = SSL_select_next_proto(&chosen, out_len, reinterpret_cast<const unsigned char*>(ours->data()),
                                    static_cast<unsigned int>(ours->size()), in, in_len);
  if (found != OPENSSL_NPN_NEGOTIATED) return SSL_TLSEXT_ERR_ALERT_FATAL;
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

struct CtxGuard {  // frees the context if configuration throws half-way
  SSL_CTX* ctx;
  ~CtxGuard() { if (ctx) SSL_CTX_free(ctx); }
  SSL_CTX* release() { return std::exchange(ctx, nullptr); }
};

}  // namespace

bool parse_verify_client(std::string_view text, VerifyClient& out) {
  if (text == "off") out = VerifyClient::Off;
  else if (text == "optional") out = VerifyClient::Optional;
  else if (text == "require") out = VerifyClient::Require;
  else return false;
  return true;
}

std::string_view failure_name(Failure f) {
  switch (f) {
    case Failure::None: return "none";
    case Failure::PlainHttp: return "plain_http";
    case Failure::NotTls: return "not_tls";
    case Failure::Protocol: return "protocol";
    case Failure::PeerCertificate: return "peer_certificate";
    case Failure::PeerClosed: return "peer_closed";
    case Failure::Timeout: return "timeout";
    case Failure::Other: return "other";
  }
  return "other";
}

TlsContext::TlsContext(ssl_ctx_st* ctx, bool server)
    : ctx_(ctx), server_(server), counters_(std::make_unique<TlsCounters>()) {}

TlsContext::TlsContext(TlsContext&& other) noexcept
    : ctx_(std::exchange(other.ctx_, nullptr)),
      server_(other.server_),
      counters_(std::move(other.counters_)),
      alpn_wire_(std::move(other.alpn_wire_)) {}

TlsContext& TlsContext::operator=(TlsContext&& other) noexcept {
  if (this != &other) {
    if (ctx_) SSL_CTX_free(ctx_);
    ctx_ = std::exchange(other.ctx_, nullptr);
    server_ = other.server_;
    counters_ = std::move(other.counters_);
    alpn_wire_ = std::move(other.alpn_wire_);
  }
  return *this;
}

TlsContext::~TlsContext() {
  if (ctx_) SSL_CTX_free(ctx_);
}

TlsContext TlsContext::server(const ServerOptions& options) {
  CtxGuard guard{new_ctx(TLS_server_method())};
  SSL_CTX* ctx = guard.ctx;
  load_chain_and_key(ctx, options.cert_file, options.key_file);

  if (options.verify_client != VerifyClient::Off) {
    require_readable("client CA", options.client_ca_file);
    if (SSL_CTX_load_verify_locations(ctx, options.client_ca_file.c_str(), nullptr) != 1)
      fail("client CA", options.client_ca_file);
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(options.client_ca_file.c_str());
    if (names == nullptr) fail("client CA", options.client_ca_file);
    SSL_CTX_set_client_CA_list(ctx, names);  // takes ownership
    int mode = SSL_VERIFY_PEER;
    if (options.verify_client == VerifyClient::Require) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(ctx, mode, nullptr);
  } else if (!options.client_ca_file.empty()) {
    throw TlsError("tls: a client CA file needs --tls-verify-client optional or require");
  }

  // Resumption: stateless tickets (on by default; one per handshake is enough
  // for a browser-like client) and a session id context, without which
  // OpenSSL refuses to resume sessions that carried a client certificate.
  SSL_CTX_set_num_tickets(ctx, 1);
  static const unsigned char kSessionContext[] = "serverlab";
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);

  TlsContext result(guard.release(), true);
  if (!options.alpn.empty()) {
    result.alpn_wire_ = std::make_unique<std::string>(alpn_wire(options.alpn));
    SSL_CTX_set_alpn_select_cb(result.ctx_, select_alpn, result.alpn_wire_.get());
  }
  return result;
}

TlsContext TlsContext::client(const ClientOptions& options) {
  CtxGuard guard{new_ctx(TLS_client_method())};
  SSL_CTX* ctx = guard.ctx;
  if (options.ca_file.empty()) {
    if (SSL_CTX_set_default_verify_paths(ctx) != 1) fail("CA", "(system default)");
  } else {
    require_readable("CA", options.ca_file);
    if (SSL_CTX_load_verify_locations(ctx, options.ca_file.c_str(), nullptr) != 1)
      fail("CA", options.ca_file);
  }
  if (!options.cert_file.empty() || !options.key_file.empty())
    load_chain_and_key(ctx, options.cert_file, options.key_file);
  SSL_CTX_set_verify(ctx, options.verify_server ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
  // Keep sessions for resumption; TlsSession::ticket() hands them out.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  if (!options.alpn.empty()) {
    std::string wire = alpn_wire(options.alpn);
    // SSL_CTX_set_alpn_protos returns 0 on success (unlike most of OpenSSL).
    if (SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>(wire.data()),
                                static_cast<unsigned int>(wire.size())) != 0)
      throw TlsError("tls: cannot set ALPN: " + openssl_reason());
  }
  return TlsContext(guard.release(), false);
}

}  // namespace serverlab::tls
