# nuvol: the only entry points. See README.md.
#
#   make run     set up this Debian machine, build, run the daemon on .run/
#   make test    set up this Debian machine and run every test
#   make build | cross | ipk | bench | demo | clean

VERSION     ?= 0.1.0
RELEASE     ?= 1
PKG_VERSION := $(VERSION)-$(RELEASE)
# Reproducible builds: every timestamp in a package comes from the last commit.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
export SOURCE_DATE_EPOCH

GO      ?= go
# nuvol needs no HTTP/2 (the catalog downloads over HTTP/1.1); leaving it
# out saves ~400 KB of binary, which keeps the mipsel .ipk within 3.6 MiB.
GOTAGS  := nethttpomithttp2
GOFLAGS_STATIC := -trimpath -tags $(GOTAGS) -ldflags "-s -w -X main.version=$(PKG_VERSION)"
# OpenWrt package architecture -> GOARCH and its variant.
ARCHS := x86_64 aarch64_cortex-a53 arm_cortex-a9_vfpv3-d16 mipsel_24kc mips_24kc
goenv_x86_64                  := GOARCH=amd64
goenv_aarch64_cortex-a53      := GOARCH=arm64
goenv_arm_cortex-a9_vfpv3-d16 := GOARCH=arm GOARM=7
goenv_mipsel_24kc             := GOARCH=mipsle GOMIPS=softfloat
goenv_mips_24kc               := GOARCH=mips GOMIPS=softfloat

.PHONY: all build cross ipk test test-go test-liblxc test-cross test-luci bench run demo deps clean

all: build

build:
	$(GO) build -trimpath -tags $(GOTAGS) -ldflags "-X main.version=$(PKG_VERSION)" -o bin/nuvol ./src/cmd/nuvol

cross: $(addprefix bin/,$(addsuffix /nuvol,$(ARCHS)))

bin/%/nuvol: FORCE
	CGO_ENABLED=0 GOOS=linux $(goenv_$*) $(GO) build $(GOFLAGS_STATIC) -o $@ ./src/cmd/nuvol

ipk: cross
	$(GO) run ./src/cmd/mkipk -version $(PKG_VERSION) -out dist $(addprefix -arch ,$(ARCHS))

# Installs what the tests need (apt-get, go install) when it is missing.
deps:
	bash src/scripts/deps.sh

# make test runs the container suites for real: on a machine that cannot
# (not root, no lxc), they fail instead of skipping.
test: deps
	$(GO) vet ./...
	$(MAKE) NUVOL_REQUIRE_LXC=1 test-go test-liblxc test-cross test-luci

test-go:
	NUVOL_REQUIRE_LXC=$(NUVOL_REQUIRE_LXC) $(GO) test -count=1 -timeout 30m ./src/...

# The same runtime conformance suite, on the cgo backend.
test-liblxc:
	NUVOL_REQUIRE_LXC=$(NUVOL_REQUIRE_LXC) CGO_ENABLED=1 $(GO) test -count=1 -tags liblxc -timeout 15m ./src/runtime/...

test-cross: cross
	bash src/scripts/check-cross.sh $(ARCHS)

test-luci: build
	bash luci-app/tests/run.sh

bench: deps ipk
	bash src/scripts/bench.sh $(ARCHS)

run: deps build
	bash src/scripts/run.sh

demo: deps build
	bash src/scripts/demo.sh

clean:
	rm -rf bin dist .run

FORCE:
