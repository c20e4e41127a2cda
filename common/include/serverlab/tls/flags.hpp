// tls/flags.hpp: the four TLS flags every server shares, in one place.
//
//   tls::ServerFlags tls_flags;
//   tls::add_server_flags(flags, tls_flags);   // --tls-cert --tls-key --tls-client-ca
//   flags.parse_or_exit(argc, argv);           // --tls-verify-client
//   std::optional<tls::TlsContext> tls;
//   if (tls_flags.enabled()) tls = tls::TlsContext::server(tls_flags.options());
//
// Why one place: stages 1-5 and the capstones must accept the same TLS flags with
// the same rules, and a bad combination must fail the same way (exit 2, one line
// naming the flag), before any file is opened. Problems with the files themselves
// (missing, unreadable, a key that does not match) are found by TlsContext::server,
// which throws TlsError naming the file; main() prints it and exits 1.
//
// Who may call: main(), before parse_or_exit; afterwards the values are read-only.
#pragma once

#include <string>

#include "serverlab/flags.hpp"
#include "serverlab/tls/context.hpp"

namespace serverlab::tls {

struct ServerFlags {
  std::string cert;                  // --tls-cert FILE (PEM chain)
  std::string key;                   // --tls-key FILE (PEM key)
  std::string client_ca;             // --tls-client-ca FILE (mTLS)
  std::string verify_client = "off";  // --tls-verify-client off|optional|require

  // True when --tls-cert (and so --tls-key) was given: the listener speaks TLS.
  bool enabled() const { return !cert.empty(); }
  // The context options these flags describe (ALPN: http/1.1 only; a caller that
  // speaks more, such as HTTP/2, sets options().alpn itself).
  ServerOptions options() const;
};

// Registers the four flags in the config file's [tls] section, and the checks:
// --tls-cert and --tls-key come together; --tls-verify-client other than off needs
// --tls-client-ca; --tls-client-ca needs --tls-cert.
void add_server_flags(Flags& flags, ServerFlags& values);

}  // namespace serverlab::tls
