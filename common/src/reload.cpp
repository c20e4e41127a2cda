#include "serverlab/reload.hpp"

namespace serverlab {

std::optional<std::string> listener_change(const ServerOptions& before,
                                           const ServerOptions& after) {
  if (auto c = changed("port", before.port, after.port)) return c;
  return changed("bind", before.bind, after.bind);
}

}  // namespace serverlab
