#!/usr/bin/env bash
# Installs, when missing, what nuvol's tests and `make run` need on Debian.
# Runs `apt-get update` at most once, and only when something is missing.
set -euo pipefail

need_apt=()
have() { command -v "$1" >/dev/null 2>&1; }
updated=
apt_install() {
	[ -n "$updated" ] || { apt-get update -qq; updated=1; }
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
have lxc-start      || need_apt+=(lxc)
[ -f /usr/include/lxc/lxccontainer.h ] || need_apt+=(lxc-dev)
[ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -qx httpd || need_apt+=(busybox-static)
have bzip2          || need_apt+=(bzip2)
have file           || need_apt+=(file)
have chromium       || need_apt+=(chromium)
have pkg-config     || need_apt+=(pkg-config)
have ip             || need_apt+=(iproute2)
have curl           || need_apt+=(curl)
have gcc            || need_apt+=(gcc libc6-dev)   # cgo, for the liblxc backend
have node           || need_apt+=(nodejs)
have npm            || need_apt+=(npm)

if [ ${#need_apt[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "deps: missing ${need_apt[*]}; run as root or install them" >&2
		exit 1
	fi
	echo "deps: installing ${need_apt[*]}"
	apt_install "${need_apt[@]}"
fi

# Go: go.mod asks for a newer Go than Debian packages. A Go of 1.21 or
# later fetches the right toolchain by itself (GOTOOLCHAIN=auto). Without
# one, Debian's Go fetches the toolchain module from the Go module proxy
# once, and /usr/local/bin/go points at it.
go_new_enough() {
	command -v go >/dev/null 2>&1 || return 1
	local v
	v=$(go env GOVERSION 2>/dev/null) || return 1
	v=${v#go}
	local major=${v%%.*} rest=${v#*.}
	local minor=${rest%%.*}
	[ "$major" -gt 1 ] || { [ "$major" -eq 1 ] && [ "${minor%%[!0-9]*}" -ge 21 ]; }
}
if ! go_new_enough; then
	want=$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$(dirname "$0")/../../go.mod")
	arch=$(dpkg --print-architecture)
	echo "deps: installing Go $want (through Debian's Go and the Go module proxy)"
	if [ ! -x /usr/lib/go/bin/go ]; then
		apt_install golang-go
	fi
	mod="golang.org/toolchain@v0.0.1-go$want.linux-$arch"
	dir=$(cd / && GOFLAGS=-mod=mod GO111MODULE=on /usr/lib/go/bin/go mod download -json "$mod" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[ -n "$dir" ] && [ -f "$dir/bin/go" ] || { echo "deps: could not fetch $mod" >&2; exit 1; }
	# Module zips keep no file modes: make the tools executable, as the go
	# command itself does when it switches toolchains.
	chmod -R u+w "$dir"
	chmod +x "$dir"/bin/* "$dir"/pkg/tool/*/*
	ln -sf "$dir/bin/go" /usr/local/bin/go
	ln -sf "$dir/bin/gofmt" /usr/local/bin/gofmt
	hash -r
	go version
fi

# The Cloudy side of the federation tests is the plain serf agent.
if ! have serf; then
	echo "deps: installing the serf agent"
	GOBIN=/usr/local/bin go install github.com/hashicorp/serf/cmd/serf@v0.10.2
fi
