# serverlab_warnings: the warning set every target of ours links (INTERFACE, so it
# never leaks into the dependencies we find with find_package).
add_library(serverlab_warnings INTERFACE)
target_compile_options(serverlab_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion
  -Wold-style-cast -Wformat=2 -Wnon-virtual-dtor -Wcast-align)
if(SERVERLAB_WERROR)
  target_compile_options(serverlab_warnings INTERFACE -Werror)
endif()

# GCC 12's -Wmaybe-uninitialized misfires under sanitizer instrumentation (it
# reports libstdc++'s own <regex> and <functional> internals at -O1 -fsanitize=...),
# which -Werror would turn into a broken sanitizer build. Sanitizer builds find
# real uninitialized reads at run time anyway; debug and release keep the warning.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_FLAGS MATCHES "-fsanitize=")
  target_compile_options(serverlab_warnings INTERFACE -Wno-maybe-uninitialized)
endif()
