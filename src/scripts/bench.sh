#!/usr/bin/env bash
# make bench: the size of each architecture's stripped binary and of its
# .ipk (budget for mipsel_24kc: .ipk <= 3.6 MiB, binary <= 12 MB), then the
# Go benchmarks of every package and the env-gated benchmark tests
# (NUVOL_BENCH=1, tests named *Bench*), one package at a time so that
# one package's load does not skew another's figures. Usage: bench.sh ARCH...
# Expects `make ipk` to have run (the Makefile's bench target does that).
set -uo pipefail
cd "$(dirname "$0")/../.."

version=$(ls dist/nuvol_*_x86_64.ipk 2>/dev/null | sed -n 's|^dist/nuvol_\(.*\)_x86_64\.ipk$|\1|p' | head -1)
ipk_budget=$((36 * 1024 * 1024 / 10))   # 3.6 MiB
bin_budget=12000000                      # 12 MB
status=0

echo "== Size (stripped static binary and .ipk, version ${version:-?})"
printf '%-26s %12s %9s %12s %9s\n' architecture binary MB ipk MiB
for arch in "$@"; do
	bin="bin/$arch/nuvol"
	pkg=$(ls dist/nuvol_*_"$arch".ipk 2>/dev/null | head -1)
	if [ ! -f "$bin" ] || [ -z "$pkg" ]; then
		echo "$arch: missing $bin or dist/nuvol_*_$arch.ipk (make ipk)" >&2
		status=1
		continue
	fi
	b=$(stat -c %s "$bin")
	p=$(stat -c %s "$pkg")
	awk -v a="$arch" -v b="$b" -v p="$p" 'BEGIN { printf "%-26s %12d %9.2f %12d %9.2f\n", a, b, b / 1e6, p, p / 1048576 }'
	if [ "$arch" = mipsel_24kc ]; then
		[ "$p" -le "$ipk_budget" ] || { echo "OVER BUDGET: $pkg is $p bytes > 3.6 MiB" >&2; status=1; }
		[ "$b" -le "$bin_budget" ] || { echo "OVER BUDGET: $bin is $b bytes > 12 MB" >&2; status=1; }
	fi
done
luci=$(ls dist/luci-app-nuvol_*_all.ipk 2>/dev/null | head -1)
[ -z "$luci" ] || awk -v p="$(stat -c %s "$luci")" 'BEGIN { printf "%-26s %12s %9s %12d %9.2f\n", "luci-app-nuvol (all)", "-", "-", p, p / 1048576 }'

echo
echo "== Go benchmarks: go test -p 1 -run '^\$' -bench . -benchmem ./src/..."
go test -p 1 -run '^$' -bench . -benchmem ./src/... || status=1

echo
echo "== Benchmark tests: NUVOL_BENCH=1 go test -p 1 -count=1 -run Bench -v ./src/..."
NUVOL_BENCH=1 go test -p 1 -count=1 -run Bench -v ./src/... 2>&1 | grep -v '^=== \(RUN\|PAUSE\|CONT\)\|no test files'
[ "${PIPESTATUS[0]}" = 0 ] || status=1

exit $status
