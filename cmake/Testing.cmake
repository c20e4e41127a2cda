# Test registration with labels and a build-before-test fixture.
#
# Every test carries exactly one stage label (common, stage1..stage5, the capstones
# proxy and kv, labs, bench) and any number of kind labels (unit, integration, slow,
# and the feature labels tls, http2). For each stage label there
# is a setup test `build:<label>` that builds every target that label's tests
# need, so `ctest -L stage3` alone is a complete grading command: nothing stale
# ever runs. (ctest pulls a fixture's setup test in even when it filters by label.)
set(SERVERLAB_STAGE_LABELS common stage1 stage2 stage3 stage4 stage5 proxy kv labs bench)

foreach(label IN LISTS SERVERLAB_STAGE_LABELS)
  add_custom_target(deps_${label})
  add_test(NAME build:${label}
           COMMAND ${CMAKE_COMMAND} --build ${CMAKE_BINARY_DIR} --target deps_${label})
  set_tests_properties(build:${label} PROPERTIES
    FIXTURES_SETUP built_${label} LABELS "${label};build" TIMEOUT 1800 RUN_SERIAL TRUE)
endforeach()

# serverlab_test_deps(<stage label> <target>...): the label's fixture builds these.
function(serverlab_test_deps label)
  if(NOT label IN_LIST SERVERLAB_STAGE_LABELS)
    message(FATAL_ERROR "unknown stage label '${label}'")
  endif()
  add_dependencies(deps_${label} ${ARGN})
endfunction()

# serverlab_label_test(NAME <test> STAGE <label> [KINDS unit ...] [DEPENDS tgt ...]
#                      [TIMEOUT s] [ENVIRONMENT k=v ...])
# Labels an already added test and hooks it to its stage's build fixture.
function(serverlab_label_test)
  cmake_parse_arguments(T "" "NAME;STAGE;TIMEOUT" "KINDS;DEPENDS;ENVIRONMENT" ${ARGN})
  if(NOT T_STAGE IN_LIST SERVERLAB_STAGE_LABELS)
    message(FATAL_ERROR "test ${T_NAME}: STAGE must be one of ${SERVERLAB_STAGE_LABELS}")
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  set_tests_properties(${T_NAME} PROPERTIES
    LABELS "${T_STAGE};${T_KINDS}"
    FIXTURES_REQUIRED built_${T_STAGE}
    TIMEOUT ${T_TIMEOUT})
  if(T_ENVIRONMENT)
    set_property(TEST ${T_NAME} APPEND PROPERTY ENVIRONMENT ${T_ENVIRONMENT})
  endif()
  if(T_DEPENDS)
    serverlab_test_deps(${T_STAGE} ${T_DEPENDS})
  endif()
endfunction()

# serverlab_gtest(<target> STAGE <label> SOURCES a.cpp ... [LIBS ...] [KINDS ...]
#                 [DEPENDS extra targets the tests run, e.g. a server binary]
#                 [ENVIRONMENT k=v ...] [TIMEOUT s])
# One GoogleTest executable registered as one ctest test. The test binary is run
# with --gtest_brief so failures, not passes, fill the log.
function(serverlab_gtest target)
  cmake_parse_arguments(T "" "STAGE;TIMEOUT" "SOURCES;LIBS;KINDS;DEPENDS;ENVIRONMENT" ${ARGN})
  add_executable(${target} ${T_SOURCES})
  target_link_libraries(${target} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main serverlab_warnings)
  add_test(NAME ${target} COMMAND ${target} --gtest_brief=1)
  serverlab_label_test(NAME ${target} STAGE ${T_STAGE} KINDS ${T_KINDS}
                       DEPENDS ${target} ${T_DEPENDS} TIMEOUT ${T_TIMEOUT}
                       ENVIRONMENT ${T_ENVIRONMENT})
endfunction()
