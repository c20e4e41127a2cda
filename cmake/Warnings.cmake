# serverlab_warnings: the warning set every target of ours links (INTERFACE, so it
# never leaks into the dependencies we find with find_package).
add_library(serverlab_warnings INTERFACE)
target_compile_options(serverlab_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion
  -Wold-style-cast -Wformat=2 -Wnon-virtual-dtor -Wcast-align)
if(SERVERLAB_WERROR)
  target_compile_options(serverlab_warnings INTERFACE -Werror)
endif()
