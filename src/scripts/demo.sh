#!/usr/bin/env bash
# make demo: a community of three nuvol nodes on this machine's loopback.
# alpha installs and publishes a web page, gamma finds it in a search and
# opens it through the address the search gave. Everything it starts
# (daemons, containers, files) is removed when it ends, failed or not.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "$(id -u)" != 0 ]; then
	echo "make demo: LXC containers need root; run it as root (sudo make demo)" >&2
	exit 1
fi

bin=${NUVOL_BIN:-$PWD/bin/nuvol}
demo=$(mktemp -d /tmp/nuvol-demo.XXXXXX)
nodes=(alpha beta gamma)
declare -A pid

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

cleanup() {
	local rc=$?
	set +e
	say "cleaning up"
	# All daemons leave serf at once, then get 5 s to exit.
	for n in "${nodes[@]}"; do
		[ -n "${pid[$n]:-}" ] && kill -TERM "${pid[$n]}" 2>/dev/null
	done
	for n in "${nodes[@]}"; do
		[ -n "${pid[$n]:-}" ] || continue
		for _ in $(seq 50); do kill -0 "${pid[$n]}" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "${pid[$n]}" 2>/dev/null
	done
	for n in "${nodes[@]}"; do
		# The daemon leaves apps running on purpose; the demo does not.
		for c in "$demo/$n/lxc"/*/; do
			[ -d "$c" ] || continue
			c=$(basename "$c")
			lxc-stop -k -P "$demo/$n/lxc" -n "$c" >/dev/null 2>&1
			lxc-destroy -P "$demo/$n/lxc" -n "$c" >/dev/null 2>&1
		done
	done
	if [ $rc != 0 ]; then
		for n in "${nodes[@]}"; do
			[ -f "$demo/$n/log" ] && { echo "--- $n's log (last lines)"; tail -n 15 "$demo/$n/log"; }
		done
	fi
	rm -rf "$demo"
	[ $rc = 0 ] && echo "demo: done, nothing left behind" || echo "demo: FAILED (exit $rc)" >&2
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_free() { ! ss -Htuln 2>/dev/null | awk '{print $5}' | grep -q ":$1\$"; }
next_port() { local p=$1; while ! port_free "$p"; do p=$((p + 1)); done; echo "$p"; }

say "starting three nodes on 127.0.0.1"
port=17946
first=""
for n in "${nodes[@]}"; do
	port=$(next_port "$port")
	mkdir -p "$demo/$n/etc" "$demo/$n/lxc"
	{
		echo "config nuvol 'main'"
		echo "	option enabled '1'"
		echo "	option node_name '$n'"
		echo "	option cloud_name 'guifi'"
		echo "	option bind_addr '127.0.0.1'"
		echo "	option bind_port '$port'"
		echo "	option lxc_path '$demo/$n/lxc'"
		echo "	option socket '$demo/$n/nuvol.sock'"
		[ -n "$first" ] && echo "	list join '127.0.0.1:$first'"
	} >"$demo/$n/etc/nuvol"
	"$bin" daemon --confdir "$demo/$n/etc" --ubus none 2>"$demo/$n/log" &
	pid[$n]=$!
	echo "$n: serf 127.0.0.1:$port, socket $demo/$n/nuvol.sock"
	[ -z "$first" ] && first=$port
	port=$((port + 1))
done

nv() { local n=$1; shift; "$bin" --socket "$demo/$n/nuvol.sock" "$@"; }

for n in "${nodes[@]}"; do
	for _ in $(seq 100); do nv "$n" status >/dev/null 2>&1 && break; sleep 0.1; done
	nv "$n" status >/dev/null
done
for _ in $(seq 100); do
	[ "$(nv gamma status --json | sed -n 's/^  "members": \([0-9]*\).*/\1/p')" = 3 ] && break
	sleep 0.2
done
nv gamma nodes

say "alpha: install static-web as 'web' and publish it"
app_port=$(next_port 18080)
nv alpha install static-web --name web --port "$app_port"
nv alpha publish web
nv alpha ls

say "gamma: search the community for web services"
found=""
for _ in $(seq 100); do
	if nv gamma search web --json | grep -q '"node": "alpha"'; then found=1; break; fi
	sleep 0.2
done
[ -n "$found" ] || { echo "demo: gamma did not find alpha's app" >&2; exit 1; }
nv gamma search web
json=$(nv gamma search web --json)
addr=$(printf '%s\n' "$json" | sed -n 's/^ *"address": "\(.*\)",\{0,1\}$/\1/p' | head -n 1)
aport=$(printf '%s\n' "$json" | sed -n 's/^ *"port": \([0-9]*\),\{0,1\}$/\1/p' | head -n 1)

say "gamma: open http://$addr:$aport/ (the address the search gave)"
curl -fsS --max-time 5 "http://$addr:$aport/"
