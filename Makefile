# Thin wrapper over meson; see README.md.
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
DATA_DIR   ?= .skiff
LISTEN     ?= 127.0.0.1:8080
PYTHON     := /usr/bin/python3
FUZZ_SECONDS ?= 30
# End-to-end test files run in parallel workers (pytest-xdist), one file per
# worker at a time so module fixtures are shared (tests/e2e/conftest.py
# groups them, and puts the host-network files in one group); most tests
# wait on containers rather than burn CPU, so more workers than cores pays off.
E2E_JOBS   ?= 3
PYTEST     := $(PYTHON) -m pytest -q -n $(E2E_JOBS) --dist loadgroup

.PHONY: all deps up check unit e2e asan asan-check fuzz bench clean format format-check

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(BUILD)/build.ninja:
	meson setup $(BUILD)

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug

$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug

deps:
	./scripts/deps.sh

# Installs dependencies, builds, and runs skiffd in the foreground.
up: deps all
	@./scripts/up.sh $(BUILD) $(DATA_DIR) $(LISTEN)

unit: all
	meson test -C $(BUILD) --print-errorlogs

e2e: all
	$(PYTEST) tests/e2e

asan: $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)

# Unit and end-to-end tests against the sanitizer build (the run/stop leak
# test does 100 cycles here; the plain e2e run does the full 500).
asan-check: asan
	meson test -C $(ASAN_BUILD) --print-errorlogs
	SKIFF_BUILD=$(ASAN_BUILD) SKIFF_CYCLES=100 $(PYTEST) tests/e2e

fuzz: $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD)
	./fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

# Every test: unit, end-to-end, sanitizers, a short fuzz run, formatting.
check: deps
	$(MAKE) all
	$(MAKE) format-check
	$(MAKE) unit
	$(MAKE) e2e
	$(MAKE) asan-check
	$(MAKE) fuzz FUZZ_SECONDS=20

bench: deps all
	SKIFF_BUILD=$(BUILD) ./bench/run

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
