# A thin front door over CMake presets. Every target installs missing Debian
# packages first (as root; otherwise it prints the apt-get line), then
# configures and builds, so a fresh clone needs nothing else.
#
#   make run              build (release) and start the default server
#   make test             build (debug) and run every test
#   make test PRESET=asan the same under AddressSanitizer + UBSan (also: tsan)
#   make check LABEL=stage3   one stage's tests (what graders run)
#   make bench            release build, then every built server vs nginx/lighttpd/h2o
#   make bench-quick      a ~1 minute smoke run that fails on errors (CI runs it)
#   make bench BENCH_ARGS="--server 'http-epoll,nginx*' --scenario '4k-*'"
#   make fuzz FUZZ_SECONDS=300   fuzz the HTTP parser (clang + libFuzzer + ASan/UBSan)

PRESET  ?= debug
LABEL   ?=
JOBS    ?= $(shell nproc)
RUN_PRESET ?= release
STAGE   ?= 2
ARGS    ?=
BENCH_ARGS ?=
FUZZ_SECONDS ?= 60

.PHONY: all deps configure build run test check format tidy clean help bench bench-quick fuzz

all: build

help:
	@sed -n '1,12p' Makefile | sed 's/^# \{0,1\}//'

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

clean:
	rm -rf build
