# Thin wrapper over Meson: `make run`, `make test`, `make bench`, `make fuzz`.
# Both `run` and `test` install missing Debian packages first (as root), or
# print the one apt-get line to run (as another user) and stop.

BUILD      ?= build
SAN_BUILD  ?= build-san
CLANG_BUILD?= build-clang
FUZZ_BUILD ?= build-fuzz
PYTHON     ?= /usr/bin/python3
FUZZ_SECS  ?= 30
TEST_FUZZ_SECS ?= 10

BUILD_DEPS = meson ninja-build pkg-config gcc libevent-dev libssl-dev \
	libinih-dev libsqlite3-dev libcrypt-dev libargon2-dev zlib1g-dev \
	libunistring-dev openssl
TEST_DEPS  = $(BUILD_DEPS) libcmocka-dev python3 python3-pytest clang curl \
	libclang-rt-14-dev
BENCH_DEPS = $(BUILD_DEPS) dovecot-imapd python3

.PHONY: all build run test unit integration clang-check bench fuzz deps \
	test-deps bench-deps clean

all: build

deps:
	@./tools/ensure-deps $(BUILD_DEPS)
test-deps:
	@./tools/ensure-deps $(TEST_DEPS)
bench-deps:
	@./tools/ensure-deps $(BENCH_DEPS)

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=release

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

run: build
	./$(BUILD)/satchel serve --dev

$(SAN_BUILD)/build.ninja:
	meson setup $(SAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false

$(CLANG_BUILD)/build.ninja:
	CC=clang meson setup $(CLANG_BUILD)

# The test suite runs against the sanitizer build (ASan + UBSan); a clang
# build checks that it compiles warning-free there too; every libFuzzer
# target then runs briefly (longer runs: `make fuzz FUZZ_SECS=600`).
test: test-deps $(SAN_BUILD)/build.ninja $(CLANG_BUILD)/build.ninja
	ninja -C $(CLANG_BUILD)
	ninja -C $(SAN_BUILD)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C $(SAN_BUILD) --suite unit --print-errorlogs
	$(MAKE) --no-print-directory fuzz FUZZ_SECS=$(TEST_FUZZ_SECS)
	SATCHEL_BIN=$(CURDIR)/$(SAN_BUILD)/satchel \
		$(PYTHON) -m pytest -q -p no:cacheprovider tests/integration

bench: bench-deps build
	$(PYTHON) bench/run.py --satchel ./$(BUILD)/satchel
	$(PYTHON) bench/store.py --satchel ./$(BUILD)/satchel

$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true \
		-Db_sanitize=address,undefined -Db_lundef=false

fuzz: test-deps $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD)
	./tools/run-fuzzers $(FUZZ_BUILD) $(FUZZ_SECS)

clean:
	rm -rf $(BUILD) $(SAN_BUILD) $(CLANG_BUILD) $(FUZZ_BUILD)
