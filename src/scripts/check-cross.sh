#!/usr/bin/env bash
# Checks that each cross-built binary is what a router of that architecture
# runs: a statically linked, stripped ELF of the right machine, word size
# and byte order. Usage: check-cross.sh ARCH... (OpenWrt package archs;
# binaries in bin/ARCH/nuvol, as `make cross` writes them).
set -euo pipefail
cd "$(dirname "$0")/../.."
bindir=${BIN_DIR:-bin}   # where `make cross` put the binaries

# What `file` must say for each architecture.
want() {
	case "$1" in
	x86_64)                  echo "ELF 64-bit LSB executable, x86-64" ;;
	aarch64_*)               echo "ELF 64-bit LSB executable, ARM aarch64" ;;
	arm_*)                   echo "ELF 32-bit LSB executable, ARM, EABI5" ;;
	mipsel_*)                echo "ELF 32-bit LSB executable, MIPS, MIPS32" ;;
	mips_*)                  echo "ELF 32-bit MSB executable, MIPS, MIPS32" ;;
	*) return 1 ;;
	esac
}

[ $# -gt 0 ] || { echo "usage: $0 ARCH..." >&2; exit 2; }
fail=0
for arch in "$@"; do
	bin="$bindir/$arch/nuvol"
	if ! expect=$(want "$arch"); then
		echo "FAIL $arch: no expectation for this architecture" >&2; fail=1; continue
	fi
	if [ ! -f "$bin" ]; then
		echo "FAIL $arch: $bin missing (make cross)" >&2; fail=1; continue
	fi
	desc=$(file -b "$bin")
	problems=()
	[[ "$desc" == "$expect"* ]]            || problems+=("not '$expect'")
	[[ "$desc" == *"statically linked"* ]] || problems+=("not statically linked")
	[[ "$desc" == *", stripped"* ]]        || problems+=("not stripped")
	[[ "$desc" != *"interpreter"* ]]       || problems+=("has an ELF interpreter")
	# The Go build settings the binary carries: routers without an FPU need
	# soft float on MIPS, the Omnia's Cortex-A9 wants ARMv7.
	# (-tags: the Makefile leaves HTTP/2 out to keep the .ipk small.)
	if settings=$(go version -m "$bin" 2>/dev/null); then
		need=("CGO_ENABLED=0" "-trimpath=true" "-tags=nethttpomithttp2")
		case "$arch" in
		mips*) need+=("GOMIPS=softfloat") ;;
		arm_*) need+=("GOARM=7") ;;
		esac
		for n in "${need[@]}"; do
			grep -q "build[[:space:]]*$n\$" <<<"$settings" || problems+=("not built with $n")
		done
	fi
	if [ ${#problems[@]} -gt 0 ]; then
		echo "FAIL $arch: $(IFS=';'; echo "${problems[*]}"): $desc" >&2
		fail=1
	else
		echo "ok   $arch: $desc" | cut -c1-110
	fi
done
exit $fail
