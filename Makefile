# The front door: every target delegates to CMake/CTest or to scripts/; no build logic here.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all build deps test demo clean

all: build

deps:
	scripts/install-deps.sh

# Configure and build (Release by default).
build:
	@scripts/install-deps.sh --check >/dev/null 2>&1 || $(MAKE) deps
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS)

# Build, then run every test (unit + end-to-end); installs missing packages first.
test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

clean:
	rm -rf $(BUILD)
