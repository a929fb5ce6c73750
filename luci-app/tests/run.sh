#!/usr/bin/env bash
# The browser test of luci-app-nuvol (make test-luci, after make build).
#
# Starts, all on loopback and under one temporary root:
#   - two nuvol daemons (A and B) with their own config dir, lxc path,
#     control socket and serf port, joined to each other;
#   - a plain serf agent as a Cloudy node, whose services tag holds a
#     description that is an HTML injection attempt;
#   - one luci-harness in front of each daemon (uhttpd /ubus + LuCI pages);
# then runs luci.test.js (node's test runner, headless Chromium through
# playwright-core with the system's /usr/bin/chromium) and cleans up
# everything it started, containers included.
#
# Installs what it needs when it is missing: chromium, nodejs/npm (Debian
# packages), bzip2, and playwright-core with `npm ci` (no browser download).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"

log() { echo "test-luci: $*"; }

# --- what the test needs -----------------------------------------------------
# The same installer as `make test` and `make run`: chromium, node, npm, lxc,
# bzip2, curl and the serf agent, each only when missing.
bash "$repo/src/scripts/deps.sh"
if [ ! -f "$here/node_modules/playwright-core/package.json" ]; then
	log "npm ci (playwright-core, no browser download)"
	(cd "$here" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi
[ -x bin/nuvol ] || go build -o bin/nuvol ./src/cmd/nuvol

# --- a temporary root --------------------------------------------------------
root=$(mktemp -d /tmp/nv-luci.XXXXXX)
chmod 755 "$root"
go build -o "$root/luci-harness" ./src/cmd/luci-harness

pids=()
cleanup() {
	status=$?
	set +e
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
	for n in a b; do
		sock="$root/$n/nuvol.sock"
		if [ -S "$sock" ]; then
			# SIGTERM leaves the apps running, so remove them first.
			for app in $(bin/nuvol --socket "$sock" --json ls 2>/dev/null | node -e '
				let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
					try { for (const a of JSON.parse(s).apps) console.log(a.name); } catch (e) {}
				});'); do
				bin/nuvol --socket "$sock" remove "$app" >/dev/null 2>&1
			done
		fi
	done
	for pid in "${daemons[@]}"; do kill -TERM "$pid" 2>/dev/null; done
	for pid in "${daemons[@]}"; do
		for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null
	done
	# Whatever is left under the test's lxc paths goes too.
	for n in a b; do
		for d in "$root/$n/lxc"/*/; do
			[ -d "$d" ] || continue
			c=$(basename "$d")
			lxc-stop -k -P "$root/$n/lxc" -n "$c" >/dev/null 2>&1
			lxc-destroy -P "$root/$n/lxc" -n "$c" >/dev/null 2>&1
		done
	done
	if [ $status -ne 0 ]; then
		for f in "$root"/*.log; do echo "--- $f"; tail -n 40 "$f"; done
	fi
	rm -rf "$root"
	exit $status
}
daemons=()
trap cleanup EXIT INT TERM

# Free loopback TCP ports, chosen by the kernel.
ports=($(node -e '
const net = require("net"); const out = []; let n = 7;
(function next() {
	const s = net.createServer().listen(0, "127.0.0.1", () => {
		out.push(s.address().port); s.close(() => --n ? next() : console.log(out.join(" ")));
	});
})();'))
serf_a=${ports[0]} serf_b=${ports[1]} serf_c=${ports[2]} rpc_c=${ports[3]}
http_a=${ports[4]} http_b=${ports[5]} app_port=${ports[6]}

node_a=luci-a node_b=luci-b
for n in a b; do
	mkdir -p "$root/$n/etc" "$root/$n/lxc"
done
write_config() { # name node serf-port join-port
	cat >"$root/$1/etc/nuvol" <<-EOF
	config nuvol 'main'
		option enabled '1'
		option node_name '$2'
		option cloud_name 'guifi'
		option bind_addr '127.0.0.1'
		option bind_port '$3'
		option advertise_addr '127.0.0.1'
		list join '127.0.0.1:$4'
		option lxc_path '$root/$1/lxc'
		option socket '$root/$1/nuvol.sock'
		option log_level 'debug'
	EOF
}
write_config a "$node_a" "$serf_a" "$serf_b"
write_config b "$node_b" "$serf_b" "$serf_a"

for n in a b; do
	bin/nuvol daemon --confdir "$root/$n/etc" --socket "$root/$n/nuvol.sock" --ubus none \
		>"$root/daemon-$n.log" 2>&1 &
	daemons+=($!)
done
for n in a b; do
	for i in $(seq 150); do
		bin/nuvol --socket "$root/$n/nuvol.sock" status >/dev/null 2>&1 && break
		[ "$i" = 150 ] && { echo "test-luci: daemon $n did not start" >&2; exit 1; }
		sleep 0.1
	done
done
log "daemons A ($serf_a) and B ($serf_b) are up"

# A Cloudy node: the plain serf agent with a services tag (base64 of bzip2 of
# the JSON array) as avahi-ps writes it; its description is untrusted HTML.
# A second service puts markup in the type and host and a script URL in the
# address.
services=$(printf '%s' '[{"s":"web","d":"<img src=x onerror=alert(1)>","m":"evil.guifi.local","i":"127.0.0.1","p":"9","e":"demo","t":"node_id=evil"},{"s":"<svg onload=alert(2)>","d":"x","m":"<b>bold</b>","i":"javascript:alert(3)//","p":"80","e":"demo","t":""}]' |
	bzip2 -9 | base64 -w 0)
serf agent -node="0123456789abcdef0123456789abcdef-$serf_c" -bind="127.0.0.1:$serf_c" \
	-rpc-addr="127.0.0.1:$rpc_c" -join="127.0.0.1:$serf_b" -tag "services=$services" \
	>"$root/cloudy.log" 2>&1 &
cloudy_pid=$!
pids+=($cloudy_pid)

"$root/luci-harness" -root "$repo" -listen "127.0.0.1:$http_a" -socket "$root/a/nuvol.sock" \
	-config "$root/a/etc/nuvol" -hostname router-a >"$root/harness-a.log" 2>&1 &
pids+=($!)
"$root/luci-harness" -root "$repo" -listen "127.0.0.2:$http_b" -socket "$root/b/nuvol.sock" \
	-config "$root/b/etc/nuvol" -hostname router-b >"$root/harness-b.log" 2>&1 &
pids+=($!)
for url in "http://127.0.0.1:$http_a/" "http://127.0.0.2:$http_b/"; do
	for i in $(seq 100); do
		curl -s -o /dev/null "$url" && break
		[ "$i" = 100 ] && { echo "test-luci: harness $url did not start" >&2; exit 1; }
		sleep 0.1
	done
done

mkdir -p "$here/out"
log "running the browser test (screenshots in luci-app/tests/out/)"
LUCI_A_URL="http://127.0.0.1:$http_a" LUCI_B_URL="http://127.0.0.2:$http_b" \
NUVOL_A_SOCKET="$root/a/nuvol.sock" NUVOL_B_SOCKET="$root/b/nuvol.sock" \
NUVOL_A_NODE="$node_a" NUVOL_A_CONFIG="$root/a/etc/nuvol" \
CLOUDY_PID="$cloudy_pid" APP_PORT="$app_port" OUT="$here/out" \
NODE_PATH="$here/node_modules" \
	timeout 300 node --test --test-concurrency=1 "$here/luci.test.js"
