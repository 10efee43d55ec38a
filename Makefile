# Jobnik: the front end to CMake. `make run` and `make test` are all a newcomer needs.
#   make deps      install the Debian packages the project needs (no-op when present)
#   make build     configure and build (build/)
#   make test      build, then run every test (unit, PostgreSQL integration, bats end-to-end)
#   make run       jobnikd on 127.0.0.1:8080 with its embedded database in ./var/jobnik
#                  (as root with a checkout the postgres user cannot enter: /var/lib/jobnik-dev)
#   make bench     benchmarks in release mode against a private PostgreSQL (see docs/performance.md)
#   make install   PREFIX=/usr/local DESTDIR=  binaries, man pages, completions, systemd units
#   make format    clang-format the sources
#   make lint      the CI gates besides the tests: formatting and clang-tidy
#   make fuzz      the libFuzzer targets (tests/fuzz), FUZZ_SECONDS each (default 60)
#   make clean

BUILD_DIR   ?= build
BUILD_TYPE  ?= RelWithDebInfo
WERROR      ?= ON
SANITIZE    ?= OFF
JOBS        ?= $(shell nproc)
PREFIX      ?= /usr/local
DESTDIR     ?=
CTEST_ARGS  ?=
LISTEN      ?= 127.0.0.1:8080
DATA_DIR    ?=
FUZZ_SECONDS ?= 60

CMAKE_FLAGS = -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DJOBNIK_WERROR=$(WERROR) -DJOBNIK_SANITIZE=$(SANITIZE) \
              -DCMAKE_INSTALL_PREFIX=$(PREFIX)

.PHONY: all deps configure build test run demo bench install uninstall format lint fuzz clean

all: build

deps:
	@scripts/deps.sh

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) $(CMAKE_FLAGS)

configure: deps
	cmake -S . -B $(BUILD_DIR) $(CMAKE_FLAGS)

build: deps $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS) $(CTEST_ARGS)

# As root the embedded PostgreSQL runs as `postgres`, which cannot enter a checkout under a
# private directory such as /root: scripts/data-dir.sh then puts the state where it can.
run: build
	@data_dir='$(DATA_DIR)'; data_dir=$${data_dir:-$$(scripts/data-dir.sh)}; \
	echo "jobnikd: API on http://$(LISTEN)/v1 (try: curl http://$(LISTEN)/v1/jobs), state in $$data_dir; Ctrl-C stops it"; \
	exec $(BUILD_DIR)/src/jobnikd --listen $(LISTEN) --data-dir "$$data_dir"

# The examples/ job spec and worker configuration end to end (scripts/demo.sh).
demo: build
	scripts/demo.sh $(BUILD_DIR)

bench:
	@scripts/deps.sh --bench
	cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DJOBNIK_BUILD_TESTS=OFF
	cmake --build build-release -j $(JOBS)
	bench/run.sh build-release
	bench/worker-bench.sh build-release

install: build
	DESTDIR=$(DESTDIR) cmake --install $(BUILD_DIR) --prefix $(PREFIX)

uninstall:
	@test -f $(BUILD_DIR)/install_manifest.txt || { echo "nothing installed from $(BUILD_DIR)"; exit 0; }
	sed 's|^|$(DESTDIR)|' $(BUILD_DIR)/install_manifest.txt | xargs -r rm -fv

format:
	git ls-files 'lib/*.h' 'lib/*.cc' 'src/*.h' 'src/*.cc' 'tests/*.h' 'tests/*.cc' \
	  'bench/*.h' 'bench/*.cc' 'examples/*.h' 'examples/*.cc' | xargs clang-format -i

lint: build
	@scripts/deps.sh --lint
	scripts/lint.sh $(BUILD_DIR)

fuzz:
	@scripts/deps.sh --fuzz
	scripts/fuzz.sh $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD_DIR) build-release build-fuzz
