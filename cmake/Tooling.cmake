# `format` and `tidy` targets over our own sources (never the dependencies').
file(GLOB_RECURSE SERVERLAB_ALL_SOURCES CONFIGURE_DEPENDS
  ${PROJECT_SOURCE_DIR}/common/*.[ch]pp ${PROJECT_SOURCE_DIR}/stage*/*.[ch]pp
  ${PROJECT_SOURCE_DIR}/tests/*.[ch]pp ${PROJECT_SOURCE_DIR}/labs/*.[ch]pp
  ${PROJECT_SOURCE_DIR}/bench/*.[ch]pp)
find_program(CLANG_FORMAT NAMES clang-format clang-format-14)
find_program(CLANG_TIDY NAMES clang-tidy clang-tidy-14)
if(CLANG_FORMAT)
  add_custom_target(format COMMAND ${CLANG_FORMAT} -i ${SERVERLAB_ALL_SOURCES}
                    COMMENT "clang-format -i (all sources)")
  add_custom_target(format-check COMMAND ${CLANG_FORMAT} --dry-run --Werror ${SERVERLAB_ALL_SOURCES}
                    COMMENT "clang-format check")
endif()
if(CLANG_TIDY)
  list(FILTER SERVERLAB_ALL_SOURCES INCLUDE REGEX "\\.cpp$")
  add_custom_target(tidy COMMAND ${CLANG_TIDY} -p ${CMAKE_BINARY_DIR} --quiet ${SERVERLAB_ALL_SOURCES}
                    COMMENT "clang-tidy (all sources)")
endif()
