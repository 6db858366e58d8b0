# The two commands a newcomer needs:  make run  and  make test.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo

.PHONY: all deps build run test test-windows test-asan format format-check bench-quick bench-io check-config clean \
        bench-route config-docs bench-balance bench bench-memory
.PHONY: install test-container

all: build

deps:
	@bash deploy/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

# Serves config/ferry.yaml: a proxy on 127.0.0.1:8080 over two built-in static backends.
run: build
	./$(BUILD)/ferry -c config/ferry.yaml

# Every test: unit, integration (the real binary, real backends, curl) on io_uring and epoll,
# then the Windows build under Wine (IOCP conformance, and the integration suite on ferry.exe).
test: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS) --timeout 300
	bash tests/run-windows.sh $(BUILD) $(BUILD)-win

# Only the Windows leg (after `make build`).
test-windows: build
	bash tests/run-windows.sh $(BUILD) $(BUILD)-win

# The Linux suite built with AddressSanitizer and UndefinedBehaviorSanitizer.
test-asan:
	$(MAKE) build BUILD=build-asan CMAKE_FLAGS="-DCMAKE_BUILD_TYPE=Debug -DFERRY_SANITIZE=address,undefined"
	cd build-asan && ctest --output-on-failure -j$(JOBS) --timeout 600

# ferry, HAProxy and NGINX side by side over scenarios S1-S5 (tests/bench/README.md); writes
# tests/bench/RESULTS.md. BENCH_ROUNDS, BENCH_SECONDS, BENCH_IO, BENCH_SCENARIOS tune it.
bench: build
	@bash deploy/install-deps.sh --bench
	bash tests/bench/bench.sh $(BUILD)/ferry

# RSS per idle keep-alive connection (10,000 of them) and heap allocations per request, ferry on
# io_uring and epoll and HAProxy; writes tests/bench/RESULTS-memory.md.
bench-memory: build
	@bash deploy/install-deps.sh --bench
	bash tests/bench/memory.sh $(BUILD)

# A first speed read, not a test: ferry and HAProxy in front of the same backends, wrk 10 s each.
bench-quick: build
	@bash deploy/install-deps.sh --bench
	bash tests/bench/quick.sh $(BUILD)/ferry

# The cost of one proactor operation on each Linux backend.
bench-io: build
	./$(BUILD)/tests/io_ops 20000

# The cost of one route lookup among 1,000 host/path routes (ns per lookup).
bench-route: build
	./$(BUILD)/tests/route_lookup 2000000

# Regenerates config/ferry.schema.json and config/README.md's key reference from the key table
# (proxy/config/keys.cpp); tests fail while either is stale.
config-docs: build
	./$(BUILD)/tests/config_docs .

# ns per pick of every balancing policy (proxy/balance).
bench-balance: build
	./$(BUILD)/tests/bench_balance 2000000

# The code style (.clang-format) is checked in CI.
format-check:
	clang-format --dry-run --Werror $$(git ls-files 'proxy/*.cpp' 'proxy/*.h' 'tests/*.cpp' 'tests/*.h')

format:
	clang-format -i $$(git ls-files 'proxy/*.cpp' 'proxy/*.h' 'tests/*.cpp' 'tests/*.h')

check-config: build
	./$(BUILD)/ferry --check config/ferry.yaml

clean:
	rm -rf $(BUILD) $(BUILD)-win build-asan

# deploy/: the binary, systemd unit, /etc/ferry/ferry.yaml (kept if present) and demo sites.
#   sudo make install [PREFIX=/usr/local] [DESTDIR=staging-root] [SYSCONFDIR=/etc]
PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
install: build
	DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" SYSCONFDIR="$(SYSCONFDIR)" bash deploy/install.sh $(BUILD)/ferry

# The container image's runtime stage, rebuilt without a container engine: a Debian 12 root
# (debootstrap, cached outside the tree), the Dockerfile's runtime packages, ferry --version and
# --check in a chroot (tests/deploy/container_root.sh). Slow the first time; make test runs it
# too, as the ctest deploy.container_root.
test-container: build
	bash tests/deploy/container_root.sh $(BUILD)/ferry
