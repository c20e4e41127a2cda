// session.cpp: TlsSession, OpenSSL over a BIO of our own (see session.hpp for
// why not BIO_s_mem(), and who owns which bytes).
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
#include <cstring>
#include <mutex>

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

// The BIO between OpenSSL and a session's two buffers. One BIO serves as both
// the read side (in_) and the write side (out_); its data pointer is the
// session. OpenSSL calls these from inside SSL_do_handshake, SSL_read,
// SSL_write and SSL_shutdown, on the session's thread.
struct SessionBio {
  // A full TLS record: 16 KiB of data plus header, padding and tag.
  static constexpr std::size_t kRecordRoom = 16 * 1024 + 512;

  static TlsSession& session(BIO* bio) { return *static_cast<TlsSession*>(BIO_get_data(bio)); }

  // OpenSSL wants up to n bytes of ciphertext: copy them from in_ straight
  // into its buffer. Nothing there: "try again" (-1 with the retry flag, which
  // SSL_get_error reports as SSL_ERROR_WANT_READ), or 0 for end of file.
  static int read(BIO* bio, char* dst, int n) {
    BIO_clear_retry_flags(bio);
    if (n <= 0) return 0;
    TlsSession& s = session(bio);
    const std::size_t have = s.in_.size() - s.in_pos_;
    if (have == 0) {
      if (s.in_eof_) return 0;
      BIO_set_retry_read(bio);
      return -1;
    }
    const std::size_t k = std::min(have, static_cast<std::size_t>(n));
    std::memcpy(dst, s.in_.data() + s.in_pos_, k);
    s.in_pos_ += k;
    if (s.in_pos_ == s.in_.size()) {  // all read: reuse the room from the start
      s.in_.clear();
      s.in_pos_ = 0;
    }
    return static_cast<int>(k);
  }

  // OpenSSL has n bytes of ciphertext (a finished record) for the peer:
  // append them to out_. Never refuses (bad_alloc becomes an error).
  static int write(BIO* bio, const char* src, int n) {
    BIO_clear_retry_flags(bio);
    if (n <= 0) return 0;
    TlsSession& s = session(bio);
    try {  // (consume_output has already started out_ over if all of it was sent)
      const std::size_t need = s.out_.size() + static_cast<std::size_t>(n);
      if (need > s.out_.capacity())  // room for a full record at least, then doubling
        s.out_.reserve(std::max({need, 2 * s.out_.capacity(), kRecordRoom}));
      s.out_.append(src, static_cast<std::size_t>(n));
    } catch (const std::bad_alloc&) {
      return -1;
    }
    return n;
  }

  static long ctrl(BIO* bio, int cmd, long /*num*/, void* /*ptr*/) {
    TlsSession& s = session(bio);
    switch (cmd) {
      case BIO_CTRL_FLUSH:  // records are in out_ already; the driver sends them
        return 1;
      case BIO_CTRL_PENDING:
        return static_cast<long>(s.in_.size() - s.in_pos_);
      case BIO_CTRL_WPENDING:
        return static_cast<long>(s.pending_output());
      case BIO_CTRL_EOF:
        return s.in_eof_ && s.in_.size() == s.in_pos_ ? 1 : 0;
      default:  // nothing else applies (no kernel TLS, no datagrams, no chain)
        return 0;
    }
  }

  // The method table, made once per process and shared by every session.
  static const BIO_METHOD* method() {
    static BIO_METHOD* made = nullptr;
    static std::once_flag once;
    std::call_once(once, [] {
      BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "serverlab session");
      if (m != nullptr && BIO_meth_set_read(m, read) == 1 && BIO_meth_set_write(m, write) == 1 &&
          BIO_meth_set_ctrl(m, ctrl) == 1) {
        made = m;
      } else {
        BIO_meth_free(m);
      }
    });
    return made;
  }
};

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
  const BIO_METHOD* method = SessionBio::method();
  BIO* bio = method != nullptr ? BIO_new(method) : nullptr;
  if (ssl_ == nullptr || bio == nullptr) {
    BIO_free(bio);
    SSL_free(ssl_);
    ERR_clear_error();
    throw TlsError("tls: out of memory for a session");
  }
  BIO_set_data(bio, this);
  BIO_set_init(bio, 1);
  SSL_set_bio(ssl_, bio, bio);  // read and write side; ssl_ owns the BIO from here on
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
  try {
    if (in_pos_ > 0) {  // drop what OpenSSL has read: the rest is part of one record
      in_.erase(0, in_pos_);
      in_pos_ = 0;
    }
    in_.append(ciphertext);
  } catch (const std::bad_alloc&) {
    fail(Failure::Other, "out of memory buffering input");
    return;
  }
  want_read_ = false;
}

void TlsSession::feed_eof() {
  in_eof_ = true;  // once in_ is read, OpenSSL's next read sees end of file
  want_read_ = false;
}

void TlsSession::consume_output(std::size_t n) {
  out_pos_ += std::min(n, pending_output());
  if (out_pos_ == out_.size()) {  // all sent: the room is reused from the start
    out_.clear();
    out_pos_ = 0;
  }
}

std::size_t TlsSession::take_output(char* dst, std::size_t n) {
  const std::size_t k = std::min(n, pending_output());
  if (k > 0) std::memcpy(dst, out_.data() + out_pos_, k);
  consume_output(k);
  return k;
}

std::string TlsSession::take_output() {
  std::string out(peek_output());
  consume_output(out.size());
  return out;
}

void TlsSession::trim() {
  if (in_pos_ < in_.size() || pending_output() > 0) return;
  std::string().swap(in_);
  std::string().swap(out_);
  in_pos_ = 0;
  out_pos_ = 0;
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
