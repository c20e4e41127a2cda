# A thin front door over CMake presets. Every target installs missing Debian
# packages first (as root; otherwise it prints the apt-get line), then
# configures and builds, so a fresh clone needs nothing else.
#
#   make run              build (release) and start the default server
#   make run TLS=1        the same over HTTPS on 8443, with throwaway certificates made into
#                         build/tls/ (then: curl --cacert build/tls/ca.pem https://127.0.0.1:8443/)
#   make test             build (debug) and run every test
#   make test PRESET=asan the same under AddressSanitizer + UBSan (also: tsan)
#   make tsan             ThreadSanitizer over the threaded code: stages 1 and 3, the core
#                         objects their threads share, and the proxy's tests (threaded fakes)
#   make coverage         the whole suite under ASan+UBSan, with line + branch coverage per directory (gcovr)
#   make check LABEL=stage3   one stage's tests (what graders run)
#   make bench            release build, then every built server vs nginx/lighttpd/h2o
#   make bench-quick      a ~1 minute smoke run that fails on errors (CI runs it)
#   make bench BENCH_ARGS="--server 'http-epoll,nginx*' --scenario '4k-*'"
#   make fuzz FUZZ_SECONDS=300   fuzz every parser we feed from the wire: HTTP, TLS, RESP, HTTP/2, proxy (libFuzzer)
#   make check-lab LAB=week02 [TAG=read-n]   one week's checks, readable (labs/README.md)
#   make grade STAGE=3 [BIN=/path/to/server]   score a stage: build/grade/stage3/results.json
#   make handout [HANDOUT_DIR=dir]   write the student starter tree (default build/handout)
#   make flamegraph STAGE=4 [FLAME_SECONDS=10]   perf + wrk: build/flamegraph/stage4.svg (docs/PROFILING.md)

PRESET  ?= debug
LABEL   ?=
JOBS    ?= $(shell nproc)
RUN_PRESET ?= release
STAGE   ?= 5
ARGS    ?=
TLS     ?=
BENCH_ARGS ?=
FUZZ_SECONDS ?= 60
LAB     ?=
TAG     ?=
BIN     ?=
CLIENT  ?=
HANDOUT_DIR ?= build/handout

.PHONY: all deps configure build run test check format tidy clean help bench bench-quick fuzz \
        check-lab grade handout tsan coverage flamegraph

all: build

help:
	@sed -n '1,20p' Makefile | sed 's/^# \{0,1\}//'

deps:
	@tools/deps.sh build

configure: deps
	@cmake --preset $(PRESET) >/dev/null

build: configure
	@cmake --build --preset $(PRESET) -j $(JOBS)

# `make run` builds only the server it starts (and what it links), not the whole tree.
RUN_TARGET_1 := echo-server
RUN_TARGET_2 := http-seq
RUN_TARGET_3 := http-threadpool
RUN_TARGET_4 := http-epoll
RUN_TARGET_5 := http-prefork
run: deps
	@test -n "$(RUN_TARGET_$(STAGE))" || { echo "make run: STAGE must be 1-5 (got '$(STAGE)')" >&2; exit 2; }
	@cmake --preset $(RUN_PRESET) >/dev/null
	@cmake --build --preset $(RUN_PRESET) -j $(JOBS) --target $(RUN_TARGET_$(STAGE))
	@$(if $(filter 1,$(TLS)),test -f build/tls/server.key || tools/make-test-certs.sh build/tls >/dev/null)
	@tools/run-stage.sh build/$(RUN_PRESET) $(STAGE) $(if $(filter 1,$(TLS)),--port 8443 \
	  --tls-cert build/tls/server-chain.pem --tls-key build/tls/server.key) $(ARGS)

test: build
	@ctest --preset $(PRESET) $(if $(LABEL),-L '$(LABEL)')

check: build
	@ctest --preset $(PRESET) -L '^$(LABEL)$$'

format: configure
	@cmake --build --preset $(PRESET) --target format

tidy: configure
	@cmake --build --preset $(PRESET) --target tidy

# ThreadSanitizer where threads share state: stage 1 (--concurrency thread: a thread per
# connection) and stage 3 (the pool), each through its stage's build fixture, which builds only
# what those tests need (the labs' copies are left to the debug run, which saves building every
# lab), and the core objects their threads share (log, metrics, file cache, the middleware:
# rate limiter, notes store, auth cache, connection limiter), the proxy, and kv-server (its
# --model threads). Stages 2, 4 and 5 are single-threaded per process: ASan+UBSan (make test
# PRESET=asan, make coverage) covers them.
TSAN_COMMON_TESTS := common_log_test common_metrics_test common_http_file_cache_test \
                     common_http_middleware_test common_conn_limit_test
tsan: deps
	@cmake --preset tsan >/dev/null
	@ctest --preset tsan -L '^stage1$$' -LE '^labs$$'
	@ctest --preset tsan -L '^stage3$$' -LE '^labs$$'
	@cmake --build --preset tsan -j $(JOBS) --target $(TSAN_COMMON_TESTS)
	@ctest --preset tsan -R '^common_(log|metrics|http_file_cache|http_middleware|conn_limit)_test$$' -FS '.*'
	@ctest --preset tsan -L '^proxy$$' -LE '^slow$$'
	@ctest --preset tsan -R '^kv_(unit|threads|clients_threads|differential_threads)_test$$'

# The bench measures the release build; bench-quick checks whatever PRESET built (CI: debug),
# since it asserts well-formed results and no errors, never speed.
bench: deps
	@tools/deps.sh bench
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS)
	@bench/bench.py --build build/release $(BENCH_ARGS)

bench-quick: build
	@tools/deps.sh bench
	@bench/bench.py --build build/$(PRESET) --quick --check $(BENCH_ARGS)

fuzz:
	@tools/fuzz.sh $(FUZZ_SECONDS)

# The course (labs/): one week's checks; a stage's score (JUnit XML + results.json);
# the student tree with every lab region replaced by its stub.
check-lab: configure
	@labs/check-lab.sh build/$(PRESET) "$(LAB)" $(TAG)

grade: configure
	@tools/grade.py --build build/$(PRESET) --stage $(STAGE) $(if $(BIN),--bin $(BIN)) \
	  $(if $(CLIENT),--client $(CLIENT))

# Line and branch coverage (gcovr): the coverage preset is the asan preset (ASan+UBSan) built
# with --coverage as well, so one build and one run of the whole suite give both the sanitizers'
# verdict and the coverage (CI runs this instead of `make test PRESET=asan`). It prints one line
# per directory (common/, each stage) and writes build/coverage/coverage.json and coverage.html.
# COVERAGE_LABEL=stage3 runs a subset.
COVERAGE_LABEL ?=
coverage: deps
	@tools/deps.sh coverage
	@cmake --preset coverage >/dev/null
	@cmake --build --preset coverage -j $(JOBS)
	@find build/coverage -name '*.gcda' -delete
	@rc=0; ctest --preset coverage $(if $(COVERAGE_LABEL),-L '^$(COVERAGE_LABEL)$$') || rc=$$?; \
	  tools/coverage.py build/coverage && exit $$rc

handout:
	@tools/handout.py --force --out $(HANDOUT_DIR)

clean:
	rm -rf build

# A CPU flame graph of one stage's server under wrk (perf record + tools/flamegraph.py),
# from the release build: build/flamegraph/stageN.svg. docs/PROFILING.md explains it.
FLAME_SECONDS ?= 10
flamegraph: deps
	@tools/deps.sh profile
	@test -n "$(RUN_TARGET_$(STAGE))" || { echo "make flamegraph: STAGE must be 2-5 (got '$(STAGE)')" >&2; exit 2; }
	@cmake --preset $(RUN_PRESET) >/dev/null
	@cmake --build --preset $(RUN_PRESET) -j $(JOBS) --target $(RUN_TARGET_$(STAGE))
	@tools/flamegraph.sh build/$(RUN_PRESET) $(STAGE) $(FLAME_SECONDS)
