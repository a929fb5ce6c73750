#!/usr/bin/env bash
# Installs, when missing, what nuvol's tests and `make run` need on Debian.
# Runs `apt-get update` at most once, and only when something is missing.
set -euo pipefail

need_apt=()
have() { command -v "$1" >/dev/null 2>&1; }
have lxc-start      || need_apt+=(lxc)
[ -f /usr/include/lxc/lxccontainer.h ] || need_apt+=(lxc-dev)
[ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -qx httpd || need_apt+=(busybox-static)
have bzip2          || need_apt+=(bzip2)
have file           || need_apt+=(file)
have chromium       || need_apt+=(chromium)
have pkg-config     || need_apt+=(pkg-config)
have ip             || need_apt+=(iproute2)
have curl           || need_apt+=(curl)

if [ ${#need_apt[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "deps: missing ${need_apt[*]}; run as root or install them" >&2
		exit 1
	fi
	echo "deps: installing ${need_apt[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# The Cloudy side of the federation tests is the plain serf agent.
if ! have serf; then
	echo "deps: installing the serf agent"
	GOBIN=/usr/local/bin go install github.com/hashicorp/serf/cmd/serf@v0.10.2
fi
