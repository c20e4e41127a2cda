# A thin front door over CMake presets. Every target installs missing Debian
# packages first (as root; otherwise it prints the apt-get line), then
# configures and builds, so a fresh clone needs nothing else.
#
#   make run              build (release) and start the default server
#   make test             build (debug) and run every test
#   make test PRESET=asan the same under AddressSanitizer + UBSan (also: tsan)
#   make tsan             ThreadSanitizer over the threaded code only (stage 3 + shared core)
#   make check LABEL=stage3   one stage's tests (what graders run)
#   make bench            release build, then every built server vs nginx/lighttpd/h2o
#   make bench-quick      a ~1 minute smoke run that fails on errors (CI runs it)
#   make bench BENCH_ARGS="--server 'http-epoll,nginx*' --scenario '4k-*'"
#   make fuzz FUZZ_SECONDS=300   fuzz the HTTP parser (clang + libFuzzer + ASan/UBSan)
#   make check-lab LAB=week02    one lab's checks, readable (labs/README.md)
#   make grade STAGE=3 [BIN=/path/to/server]   score a stage: build/grade/stage3/results.json
#   make handout [HANDOUT_DIR=dir]   write the student starter tree (default build/handout)

PRESET  ?= debug
LABEL   ?=
JOBS    ?= $(shell nproc)
RUN_PRESET ?= release
STAGE   ?= 5
ARGS    ?=
BENCH_ARGS ?=
FUZZ_SECONDS ?= 60
LAB     ?=
BIN     ?=
CLIENT  ?=
HANDOUT_DIR ?= build/handout

.PHONY: all deps configure build run test check format tidy clean help bench bench-quick fuzz \
        check-lab grade handout tsan

all: build

help:
	@sed -n '1,16p' Makefile | sed 's/^# \{0,1\}//'

deps:
	@tools/deps.sh build

configure: deps
	@cmake --preset $(PRESET) >/dev/null

build: configure
	@cmake --build --preset $(PRESET) -j $(JOBS)

run: deps
	@cmake --preset $(RUN_PRESET) >/dev/null
	@cmake --build --preset $(RUN_PRESET) -j $(JOBS)
	@tools/run-stage.sh build/$(RUN_PRESET) $(STAGE) $(ARGS)

test: build
	@ctest --preset $(PRESET) $(if $(LABEL),-L '$(LABEL)')

check: build
	@ctest --preset $(PRESET) -L '^$(LABEL)$$'

format: configure
	@cmake --build --preset $(PRESET) --target format

tidy: configure
	@cmake --build --preset $(PRESET) --target tidy

# ThreadSanitizer where threads share state: stage 3 (its build:stage3 fixture builds only what
# those tests need; the labs' copy of the queue checks is left to the debug run, which saves
# building every lab) and the core objects its workers share (log, metrics, file cache).
TSAN_COMMON_TESTS := common_log_test common_metrics_test common_http_file_cache_test
tsan: deps
	@cmake --preset tsan >/dev/null
	@ctest --preset tsan -L '^stage3$$' -LE '^labs$$'
	@cmake --build --preset tsan -j $(JOBS) --target $(TSAN_COMMON_TESTS)
	@ctest --preset tsan -R '^common_(log|metrics|http_file_cache)_test$$' -FS '.*'

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
	@labs/check-lab.sh build/$(PRESET) $(LAB)

grade: configure
	@tools/grade.py --build build/$(PRESET) --stage $(STAGE) $(if $(BIN),--bin $(BIN)) \
	  $(if $(CLIENT),--client $(CLIENT))

handout:
	@tools/handout.py --force --out $(HANDOUT_DIR)

clean:
	rm -rf build
