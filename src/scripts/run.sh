#!/usr/bin/env bash
# make run: the nuvol daemon in the foreground, on a local root in .run/
# (its own config dir, lxc path and control socket), so it never touches
# /etc/config or /srv/lxc. In a second shell:
#
#   bin/nuvol --socket .run/nuvol.sock install static-web --name web
#   curl http://127.0.0.1:8080/
#
# Ctrl-C stops the daemon; the apps keep running, as under procd. Remove
# them with `bin/nuvol --socket .run/nuvol.sock remove web` before
# `make clean`.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "$(id -u)" != 0 ]; then
	echo "make run: LXC containers need root; run it as root (sudo make run)" >&2
	exit 1
fi

root=$PWD/.run
mkdir -p "$root/etc" "$root/lxc"

# A serf port nobody uses: 7946 (serf's own default) or the next free one,
# so that make run works next to a Cloudy node on 5000.
port_free() { ! ss -Htuln 2>/dev/null | awk '{print $5}' | grep -q ":$1\$"; }

conf=$root/etc/nuvol
if [ ! -f "$conf" ]; then
	port=7946
	while ! port_free "$port"; do port=$((port + 1)); done
	cat >"$conf" <<CONF
# nuvol's config for make run (the same schema as /etc/config/nuvol).
config nuvol 'main'
	option enabled '1'
	option node_name '$(hostname -s 2>/dev/null || echo nuvol)'
	option cloud_name 'guifi'
	option device_name 'demo'
	option bind_addr '127.0.0.1'
	option bind_port '$port'
	option lxc_path '$root/lxc'
	option socket '$root/nuvol.sock'
	option log_level 'info'
CONF
	echo "make run: wrote $conf (serf on 127.0.0.1:$port)"
fi

cat <<MSG
make run: nuvol daemon on .run/ (Ctrl-C stops it; apps keep running)
  in another shell:
    bin/nuvol --socket .run/nuvol.sock catalog
    bin/nuvol --socket .run/nuvol.sock install static-web --name web
    curl http://127.0.0.1:8080/
    bin/nuvol --socket .run/nuvol.sock ls
    bin/nuvol --socket .run/nuvol.sock remove web
MSG
exec bin/nuvol daemon --confdir "$root/etc" --ubus "${NUVOL_UBUS:-none}"
