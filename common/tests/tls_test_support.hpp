// tls_test_support.hpp: what the TLS tests share: a set of throwaway
// certificates made once per test process by tools/make-test-certs.sh, the
// contexts built from them, and pump(), which moves ciphertext between two
// in-memory sessions until neither has anything more to say.
//
// Who may call: the TLS tests in common/tests, from the test thread.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <ostream>
#include <stdexcept>
#include <string>

#include "serverlab/tls/context.hpp"
#include "serverlab/tls/session.hpp"
#include "temp_dir.hpp"

namespace serverlab::tls {
// Lets GoogleTest print a Failure by name ("peer_closed"), not as a byte.
inline void PrintTo(Failure f, std::ostream* os) { *os << failure_name(f); }
}  // namespace serverlab::tls

namespace serverlab::tls::testing {

// The directory with ca.pem, server.pem, client.pem, ... (see the script's
// header). Made on first use; removed when the test process exits.
inline const std::string& cert_dir() {
  static serverlab::testing::TempDir dir("tls-test-certs");
  static const bool made = [] {
    std::string cmd = std::string(SERVERLAB_SOURCE_DIR) + "/tools/make-test-certs.sh '" +
                      dir.path() + "' >/dev/null";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("failed: " + cmd);
    return true;
  }();
  (void)made;
  return dir.path();
}

inline std::string cert(const std::string& name) { return cert_dir() + "/" + name; }

inline ServerOptions server_options() {
  ServerOptions o;
  o.cert_file = cert("server-chain.pem");
  o.key_file = cert("server.key");
  return o;
}

inline ServerOptions mtls_options(VerifyClient mode) {
  ServerOptions o = server_options();
  o.client_ca_file = cert("ca.pem");
  o.verify_client = mode;
  return o;
}

// A client trusting the test CA, optionally presenting `name`.pem / `name`.key.
inline ClientOptions client_options(const std::string& name = "") {
  ClientOptions o;
  o.ca_file = cert("ca.pem");
  if (!name.empty()) {
    o.cert_file = cert(name + ".pem");
    o.key_file = cert(name + ".key");
  }
  return o;
}

// Advances both sessions and swaps their output until a round moves no bytes.
inline void pump(TlsSession& client, TlsSession& server) {
  for (int round = 0; round < 50; ++round) {
    client.advance();
    server.advance();
    std::string to_server = client.take_output();
    std::string to_client = server.take_output();
    if (to_server.empty() && to_client.empty()) return;
    server.feed(to_server);
    client.feed(to_client);
  }
  ADD_FAILURE() << "pump: sessions still talking after 50 rounds";
}

// Reads what the session has decrypted so far (until WantRead/Closed/Failed).
inline std::string read_all(TlsSession& s) {
  std::string out;
  char buf[4096];
  for (;;) {
    TlsSession::Io io = s.read(buf, sizeof buf);
    if (io.status != TlsSession::Io::Status::Ok) return out;
    out.append(buf, io.bytes);
  }
}

}  // namespace serverlab::tls::testing
