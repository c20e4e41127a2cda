#include "serverlab/tls/flags.hpp"

#include <optional>

namespace serverlab::tls {

ServerOptions ServerFlags::options() const {
  ServerOptions options;
  options.cert_file = cert;
  options.key_file = key;
  options.client_ca_file = client_ca;
  parse_verify_client(verify_client, options.verify_client);  // add_server_flags checked it
  return options;
}

void add_server_flags(Flags& flags, ServerFlags& values) {
  flags.begin_section("tls");
  flags.add("tls-cert", values.cert,
            "serve TLS with this PEM certificate chain (the server's certificate first)");
  flags.add("tls-key", values.key, "the PEM private key of --tls-cert (unencrypted)");
  flags.add("tls-client-ca", values.client_ca,
            "PEM file of the CAs whose client certificates are accepted (mutual TLS)");
  flags.add_choice("tls-verify-client", values.verify_client, {"off", "optional", "require"},
                   "ask for a client certificate: off, optional (a bad one is refused), "
                   "require (none or a bad one is refused)");
  flags.add_check([&values]() -> std::optional<std::string> {
    if (values.cert.empty() != values.key.empty())
      return values.cert.empty() ? "--tls-key needs --tls-cert" : "--tls-cert needs --tls-key";
    if (!values.client_ca.empty() && values.cert.empty())
      return "--tls-client-ca needs --tls-cert and --tls-key";
    if (values.verify_client != "off" && values.client_ca.empty())
      return "--tls-verify-client " + values.verify_client + " needs --tls-client-ca";
    return std::nullopt;
  });
}

}  // namespace serverlab::tls
