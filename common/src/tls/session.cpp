// session.cpp: TlsSession, OpenSSL over a pair of memory BIOs.
//
// Every OpenSSL call is preceded by ERR_clear_error(): the error queue is per
// thread, and a stale entry from another session on the same thread would
// otherwise be blamed on this one.
#include "serverlab/tls/session.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <climits>

namespace serverlab::tls {
namespace {

std::string reason_text(unsigned long code) {
  const char* reason = ERR_reason_error_string(code);
  return reason ? reason : "OpenSSL error " + std::to_string(ERR_GET_REASON(code));
}

// Which Failure an OpenSSL reason code stands for.
Failure classify(int reason) {
  switch (reason) {
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
      return Failure::PlainHttp;
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
    case SSL_R_UNKNOWN_PROTOCOL:
    case SSL_R_RECORD_LENGTH_MISMATCH:
    case SSL_R_UNEXPECTED_MESSAGE:
    case SSL_R_UNEXPECTED_RECORD:
    case SSL_R_LENGTH_MISMATCH:
    case SSL_R_BAD_PACKET_LENGTH:
    case SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC:
      return Failure::NotTls;
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_NO_SHARED_GROUPS:
    case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
    case SSL_R_NO_APPLICATION_PROTOCOL:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
    case SSL_R_TLSV1_ALERT_NO_APPLICATION_PROTOCOL:
    case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE:
      return Failure::Protocol;
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
      return Failure::PeerCertificate;
    case SSL_R_UNEXPECTED_EOF_WHILE_READING:
      return Failure::PeerClosed;
    default:
      return Failure::Other;
  }
}

bool is_ip_address(std::string_view name) {
  return !name.empty() && (name.find(':') != std::string_view::npos ||
                            name.find_first_not_of("0123456789.") == std::string_view::npos);
}

// SSL_set_tlsext_host_name, without the macro's C-style cast.
bool set_sni(SSL* ssl, std::string& name) {
  return SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, name.data()) == 1;
}

}  // namespace

bool looks_like_plain_http(std::string_view first_bytes) {
  std::size_t letters = 0;
  while (letters < first_bytes.size() && first_bytes[letters] >= 'A' && first_bytes[letters] <= 'Z')
    ++letters;
  if (letters == 0 || letters > 8) return false;
  return letters == first_bytes.size() || first_bytes[letters] == ' ';
}

TlsSession::TlsSession(const TlsContext& ctx) {
  if (!ctx.is_server()) throw TlsError("tls: a server session needs a server context");
  setup(ctx);
  SSL_set_accept_state(ssl_);
}

TlsSession::TlsSession(const TlsContext& ctx, std::string_view server_name, const Ticket& resume) {
  if (ctx.is_server()) throw TlsError("tls: a client session needs a client context");
  setup(ctx);
  std::string name(server_name);
  if (!name.empty()) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl_);
    bool ok = is_ip_address(name) ? X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) == 1
                                  : SSL_set1_host(ssl_, name.c_str()) == 1 &&
                                        set_sni(ssl_, name);
    if (!ok) {
      SSL_free(ssl_);
      throw TlsError("tls: bad server name '" + name + "'");
    }
  }
  if (resume) SSL_set_session(ssl_, resume.get());
  SSL_set_connect_state(ssl_);
}

void TlsSession::setup(const TlsContext& ctx) {
  ERR_clear_error();
  ssl_ = SSL_new(ctx.native());
  in_ = BIO_new(BIO_s_mem());
  out_ = BIO_new(BIO_s_mem());
  if (ssl_ == nullptr || in_ == nullptr || out_ == nullptr) {
    BIO_free(in_);
    BIO_free(out_);
    SSL_free(ssl_);
    ERR_clear_error();
    throw TlsError("tls: out of memory for a session");
  }
  // An empty input BIO means "no bytes yet", not end of file (see feed_eof).
  BIO_set_mem_eof_return(in_, -1);
  SSL_set_bio(ssl_, in_, out_);  // ssl_ owns both BIOs from here on
  counters_ = &ctx.counters();
  server_ = ctx.is_server();
}

TlsSession::~TlsSession() { SSL_free(ssl_); }

void TlsSession::feed(std::string_view ciphertext) {
  if (ciphertext.empty() || state_ == State::Failed) return;
  if (server_ && !sniffed_) {
    sniffed_ = true;
    if (looks_like_plain_http(ciphertext)) {
      fail(Failure::PlainHttp, "plain HTTP request on a TLS port");
      return;
    }
  }
  // BIO_write on a memory BIO fails only when out of memory; it takes at most
  // INT_MAX bytes per call.
  while (!ciphertext.empty()) {
    int n = static_cast<int>(std::min<std::size_t>(ciphertext.size(), INT_MAX));
    if (BIO_write(in_, ciphertext.data(), n) != n) {
      fail(Failure::Other, "out of memory buffering input");
      return;
    }
    ciphertext.remove_prefix(static_cast<std::size_t>(n));
  }
  want_read_ = false;
}

void TlsSession::feed_eof() {
  BIO_set_mem_eof_return(in_, 0);  // reads of an empty BIO now mean EOF
  want_read_ = false;
}

std::size_t TlsSession::pending_output() const { return BIO_ctrl_pending(out_); }

std::size_t TlsSession::take_output(char* dst, std::size_t n) {
  int want = static_cast<int>(std::min<std::size_t>({n, pending_output(), INT_MAX}));
  if (want == 0) return 0;
  int got = BIO_read(out_, dst, want);
  return got > 0 ? static_cast<std::size_t>(got) : 0;
}

std::string TlsSession::take_output() {
  std::string out(pending_output(), '\0');
  out.resize(take_output(out.data(), out.size()));
  return out;
}

TlsSession::State TlsSession::advance() {
  if (state_ != State::Handshaking) return state_;
  ERR_clear_error();
  int rc = SSL_do_handshake(ssl_);
  if (rc == 1) {
    handshake_done();
    return state_;
  }
  int err = SSL_get_error(ssl_, rc);
  if (err == SSL_ERROR_WANT_READ) {
    want_read_ = true;
  } else {
    fail_from_openssl(err);
  }
  return state_;
}

void TlsSession::handshake_done() {
  state_ = State::Open;
  want_read_ = true;
  counters_->handshakes.fetch_add(1, std::memory_order_relaxed);
  if (SSL_session_reused(ssl_)) counters_->resumptions.fetch_add(1, std::memory_order_relaxed);
}

void TlsSession::fail_timeout() {
  if (state_ == State::Handshaking) fail(Failure::Timeout, "handshake timed out");
}

void TlsSession::fail(Failure why, std::string text) {
  if (state_ == State::Handshaking)
    counters_->failures[static_cast<std::size_t>(why)].fetch_add(1, std::memory_order_relaxed);
  state_ = State::Failed;
  failure_ = why;
  error_ = std::move(text);
  want_read_ = false;
}

// Turns SSL_get_error's answer (and the thread's error queue) into a Failure
// with a readable reason, and empties the queue.
void TlsSession::fail_from_openssl(int ssl_error) {
  unsigned long code = ERR_peek_error();  // the first error is the root cause
  if (ssl_error == SSL_ERROR_SSL && code != 0) {
    std::string text = reason_text(code);
    long verify = SSL_get_verify_result(ssl_);
    if (verify != X509_V_OK) text += std::string(": ") + X509_verify_cert_error_string(verify);
    ERR_clear_error();
    fail(classify(ERR_GET_REASON(code)), std::move(text));
  } else if (ssl_error == SSL_ERROR_ZERO_RETURN || ssl_error == SSL_ERROR_SYSCALL ||
             ssl_error == SSL_ERROR_SSL) {
    ERR_clear_error();
    fail(Failure::PeerClosed, "connection closed by the peer");
  } else {
    ERR_clear_error();
    fail(Failure::Other, "unexpected OpenSSL state " + std::to_string(ssl_error));
  }
}

TlsSession::Io TlsSession::read(char* dst, std::size_t n) {
  if (state_ == State::Closed) return {Io::Status::Closed, 0};
  if (state_ != State::Open) return {Io::Status::Failed, 0};
  if (n == 0) return {Io::Status::Ok, 0};
  ERR_clear_error();
  int rc = SSL_read(ssl_, dst, static_cast<int>(std::min<std::size_t>(n, INT_MAX)));
  if (rc > 0) return {Io::Status::Ok, static_cast<std::size_t>(rc)};
  int err = SSL_get_error(ssl_, rc);
  if (err == SSL_ERROR_WANT_READ) {
    want_read_ = true;
    return {Io::Status::WantRead, 0};
  }
  if (err == SSL_ERROR_ZERO_RETURN) {  // close_notify: answer it, the end is clean
    close();
    return {Io::Status::Closed, 0};
  }
  fail_from_openssl(err);
  return {Io::Status::Failed, 0};
}

TlsSession::Io TlsSession::write(std::string_view plaintext) {
  if (state_ == State::Closed) return {Io::Status::Closed, 0};
  if (state_ != State::Open) return {Io::Status::Failed, 0};
  std::size_t done = 0;
  while (done < plaintext.size()) {
    int chunk = static_cast<int>(std::min<std::size_t>(plaintext.size() - done, INT_MAX));
    ERR_clear_error();
    int rc = SSL_write(ssl_, plaintext.data() + done, chunk);
    if (rc <= 0) {
      fail_from_openssl(SSL_get_error(ssl_, rc));
      return {Io::Status::Failed, done};
    }
    done += static_cast<std::size_t>(rc);
  }
  return {Io::Status::Ok, done};
}

void TlsSession::close() {
  if (state_ == State::Open) {
    ERR_clear_error();
    SSL_shutdown(ssl_);  // queues close_notify in the output; we do not wait for the peer's
    ERR_clear_error();
  }
  if (state_ != State::Failed) state_ = State::Closed;
  want_read_ = false;
}

bool TlsSession::resumed() const { return state_ == State::Open && SSL_session_reused(ssl_) == 1; }

std::string_view TlsSession::alpn() const {
  const unsigned char* data = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl_, &data, &len);
  return data ? std::string_view(reinterpret_cast<const char*>(data), len) : std::string_view();
}

std::string TlsSession::version() const { return SSL_get_version(ssl_); }

std::string TlsSession::peer_subject() const {
  if (SSL_get_verify_result(ssl_) != X509_V_OK) return "";
  X509* cert = SSL_get0_peer_certificate(ssl_);
  if (cert == nullptr) return "";
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return "";
  X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string subject(data, static_cast<std::size_t>(len > 0 ? len : 0));
  BIO_free(bio);
  return subject;
}

// A copy, not the connection's own session: OpenSSL marks a session it still
// shares with a connection "not resumable" when that connection is freed
// without a clean shutdown, which would silently spoil the ticket.
Ticket TlsSession::ticket() const {
  SSL_SESSION* live = SSL_get0_session(ssl_);
  if (live == nullptr || SSL_SESSION_is_resumable(live) != 1) return {};
  SSL_SESSION* copy = SSL_SESSION_dup(live);
  if (copy == nullptr) return {};
  return Ticket(copy, SSL_SESSION_free);
}

}  // namespace serverlab::tls
