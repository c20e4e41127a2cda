// tls_context_test.cpp: TlsContext's start-up errors name the file and
// OpenSSL's reason; good files make a context.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "serverlab/tls/context.hpp"
#include "temp_dir.hpp"
#include "tls_test_support.hpp"

namespace {

using namespace serverlab::tls;
using namespace serverlab::tls::testing;

// The message of the TlsError that `make` throws, or "" if it throws none.
template <typename F>
std::string error_of(F make) {
  try {
    make();
  } catch (const TlsError& e) {
    return e.what();
  }
  return "";
}

TEST(TlsContext, GoodServerAndClientContexts) {
  TlsContext server = TlsContext::server(server_options());
  EXPECT_TRUE(server.is_server());
  TlsContext client = TlsContext::client(client_options("client"));
  EXPECT_FALSE(client.is_server());
  TlsContext mtls = TlsContext::server(mtls_options(VerifyClient::Require));
  EXPECT_NE(mtls.native(), nullptr);
}

TEST(TlsContext, MissingCertificateNamesTheFile) {
  ServerOptions o = server_options();
  o.cert_file = cert_dir() + "/nope.pem";
  std::string msg = error_of([&] { TlsContext::server(o); });
  EXPECT_NE(msg.find("certificate " + o.cert_file), std::string::npos) << msg;
  EXPECT_NE(msg.find("No such file"), std::string::npos) << msg;
}

TEST(TlsContext, MissingKeyNamesTheFile) {
  ServerOptions o = server_options();
  o.key_file = cert_dir() + "/nope.key";
  std::string msg = error_of([&] { TlsContext::server(o); });
  EXPECT_NE(msg.find("key " + o.key_file), std::string::npos) << msg;
}

TEST(TlsContext, MismatchedKeyNamesBothFilesAndTheReason) {
  ServerOptions o = server_options();
  o.key_file = cert("wrong.key");
  std::string msg = error_of([&] { TlsContext::server(o); });
  EXPECT_NE(msg.find(o.key_file + " does not match certificate " + o.cert_file), std::string::npos) << msg;
  EXPECT_NE(msg.find("values mismatch"), std::string::npos) << msg;  // OpenSSL's reason
}

TEST(TlsContext, NotPemNamesTheFileAndTheReason) {
  serverlab::testing::TempDir dir("tls-context-test");
  ServerOptions o = server_options();
  o.cert_file = dir.write("junk.pem", "this is not a certificate\n");
  std::string msg = error_of([&] { TlsContext::server(o); });
  EXPECT_NE(msg.find("certificate " + o.cert_file), std::string::npos) << msg;
  EXPECT_NE(msg.find("no start line"), std::string::npos) << msg;
}

TEST(TlsContext, KeyGivenAsCertificateIsRefused) {
  ServerOptions o = server_options();
  o.cert_file = cert("server.key");
  std::string msg = error_of([&] { TlsContext::server(o); });
  EXPECT_NE(msg.find("certificate " + o.cert_file), std::string::npos) << msg;
  // The error must never carry key material.
  EXPECT_EQ(msg.find("PRIVATE KEY-----"), std::string::npos) << msg;
}

// An encrypted key must fail with a reason, never prompt for a pass phrase
// (a prompt would hang here until ctest's timeout).
TEST(TlsContext, EncryptedKeyIsRefusedWithoutPrompting) {
  serverlab::testing::TempDir dir("tls-context-test");
  std::string encrypted = dir.path("encrypted.key");
  std::string cmd = "openssl pkey -in " + cert("server.key") + " -aes256 -passout pass:secret -out " +
                    encrypted + " </dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  ServerOptions o = server_options();
  o.key_file = encrypted;
  std::string msg = error_of([&] { TlsContext::server(o); });
  EXPECT_NE(msg.find("key " + encrypted), std::string::npos) << msg;
  EXPECT_EQ(msg.find("secret"), std::string::npos) << msg;
}

TEST(TlsContext, ClientVerificationNeedsACaFile) {
  ServerOptions o = server_options();
  o.verify_client = VerifyClient::Require;
  EXPECT_NE(error_of([&] { TlsContext::server(o); }).find("client CA"), std::string::npos);
  ServerOptions p = server_options();
  p.client_ca_file = cert("ca.pem");  // a CA without a verify mode is a mistake too
  EXPECT_NE(error_of([&] { TlsContext::server(p); }).find("tls-verify-client"), std::string::npos);
}

TEST(TlsContext, ClientWithCertificateButNoKeyIsRefused) {
  ClientOptions o = client_options();
  o.cert_file = cert("client.pem");
  EXPECT_NE(error_of([&] { TlsContext::client(o); }).find("key"), std::string::npos);
}

TEST(TlsContext, ParseVerifyClient) {
  VerifyClient v = VerifyClient::Off;
  EXPECT_TRUE(parse_verify_client("require", v));
  EXPECT_EQ(v, VerifyClient::Require);
  EXPECT_TRUE(parse_verify_client("optional", v));
  EXPECT_EQ(v, VerifyClient::Optional);
  EXPECT_TRUE(parse_verify_client("off", v));
  EXPECT_EQ(v, VerifyClient::Off);
  EXPECT_FALSE(parse_verify_client("on", v));
  EXPECT_FALSE(parse_verify_client("", v));
}

}  // namespace
