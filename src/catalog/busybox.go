package catalog

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// leftOutApplets are not linked in a busybox rootfs. A host-mode container
// shares the router's interfaces, and nothing in it should even be able to
// reconfigure them by accident; and there is no init or rcS: the runtime
// starts the app under its own minimal init.
var leftOutApplets = map[string]bool{
	"init": true, "linuxrc": true, "halt": true, "poweroff": true, "reboot": true,
	"udhcpc": true, "udhcpc6": true, "udhcpd": true, "dhcprelay": true, "zcip": true,
	"ifconfig": true, "ifup": true, "ifdown": true, "ifenslave": true, "ip": true,
	"ipaddr": true, "iplink": true, "iproute": true, "iprule": true, "iptunnel": true,
	"ipneigh": true, "route": true, "vconfig": true, "nameif": true, "tunctl": true,
	"brctl": true, "arping": true, "slattach": true,
}

// BuildBusyboxRootfs assembles a minimal rootfs from the host's busybox,
// the way LXC's busybox template does (directories, applet links,
// passwd/group), but without its rcS: there is no init script that
// touches the network. A dynamically linked busybox (OpenWrt's is linked
// against musl) is copied with its loader and libraries.
func BuildBusyboxRootfs(rootfs, busybox string, applets []string) error {
	return BuildBusyboxRootfsFallback(rootfs, busybox, applets, nil)
}

// BuildBusyboxRootfsFallback is BuildBusyboxRootfs where an applet the
// host busybox lacks may be replaced by a host program (copied with its
// libraries to /usr/sbin/APPLET): OpenWrt's busybox has no httpd, but
// every OpenWrt router with LuCI has uhttpd, which takes the same -f, -p
// and -h options.
func BuildBusyboxRootfsFallback(rootfs, busybox string, applets []string, fallback map[string]string) error {
	have, err := listApplets(busybox)
	if err != nil {
		return err
	}
	var copies [][2]string // host path, rootfs path
	for _, a := range append([]string{"sh"}, applets...) {
		if _, ok := have[a]; ok {
			continue
		}
		fb := fallback[a]
		if fb == "" {
			return fmt.Errorf("%w: %s has no applet %q", ErrHostBusybox, busybox, a)
		}
		if _, err := os.Stat(fb); err != nil {
			return fmt.Errorf("%w: %s has no applet %q, and its stand-in %s is missing", ErrHostBusybox, busybox, a, fb)
		}
		copies = append(copies, [2]string{fb, "/usr/sbin/" + a})
	}
	for _, d := range []string{"bin", "sbin", "usr/bin", "usr/sbin", "lib", "usr/lib", "etc",
		"dev", "proc", "sys", "tmp", "root", "home", "mnt", "run", "var", "var/log", "var/lib",
		"var/tmp", "srv"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			return err
		}
	}
	for d, mode := range map[string]os.FileMode{"tmp": 0o1777 | os.ModeSticky, "var/tmp": 0o1777 | os.ModeSticky, "root": 0o700} {
		if err := os.Chmod(filepath.Join(rootfs, d), mode); err != nil {
			return err
		}
	}
	if err := os.Symlink("../run", filepath.Join(rootfs, "var/run")); err != nil {
		return err
	}
	if err := copyELF(rootfs, busybox, "/bin/busybox", map[string]bool{}); err != nil {
		return err
	}
	for name, p := range have {
		if leftOutApplets[name] {
			continue
		}
		dst := filepath.Join(rootfs, p)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.Symlink("/bin/busybox", dst); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	}
	done := map[string]bool{"/bin/busybox": true}
	for _, c := range copies {
		if err := copyELF(rootfs, c[0], c[1], done); err != nil {
			return fmt.Errorf("%w: copying %s: %v", ErrHostBusybox, c[0], err)
		}
	}
	files := map[string]string{
		"/etc/passwd":   "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
		"/etc/group":    "root:x:0:\nnogroup:x:65534:\n",
		"/etc/shadow":   "root:*:0:0:99999:7:::\nnobody:*:0:0:99999:7:::\n",
		"/etc/hosts":    "127.0.0.1\tlocalhost\n::1\tlocalhost\n",
		"/etc/profile":  "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n",
		"/etc/fstab":    "",
		"/etc/hostname": "nuvol\n",
	}
	for p, content := range files {
		mode := os.FileMode(0o644)
		if p == "/etc/shadow" {
			mode = 0o600
		}
		if err := WriteFile(rootfs, p, []byte(content), mode); err != nil {
			return err
		}
	}
	return nil
}

// listApplets returns the host busybox's applets and their paths in a
// rootfs.
func listApplets(busybox string) (map[string]string, error) {
	out, err := exec.Command(busybox, "--list-full").Output()
	full := err == nil
	if !full {
		// Old busyboxes have only --list; their applets all go in /bin.
		out, err = exec.Command(busybox, "--list").Output()
		if err != nil {
			return nil, fmt.Errorf("%w: %s --list: %v", ErrHostBusybox, busybox, err)
		}
	}
	have := map[string]string{} // applet -> path in rootfs
	for _, line := range strings.Fields(string(out)) {
		p := line
		if !full {
			p = "bin/" + line
		}
		name := filepath.Base(p)
		if name == "busybox" || strings.Contains(p, "..") || strings.HasPrefix(p, "/") {
			continue
		}
		have[name] = p
	}
	return have, nil
}

// libDirs are searched for a dynamically linked binary's libraries.
var libDirs = []string{"/lib", "/usr/lib", "/lib64", "/usr/lib64",
	"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu",
	"/usr/lib/aarch64-linux-gnu", "/lib/arm-linux-gnueabihf", "/usr/lib/arm-linux-gnueabihf"}

// copyELF copies the host file src to dst in rootfs and, if it is a
// dynamically linked ELF file, its interpreter and the libraries it needs
// (recursively), each at the path the host has it.
func copyELF(rootfs, src, dst string, done map[string]bool) error {
	if done[dst] {
		return nil
	}
	done[dst] = true
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(rootfs, filepath.Dir(dst)), 0o755); err != nil {
		return err
	}
	data, err := io.ReadAll(in)
	if err != nil {
		return err
	}
	if err := WriteFile(rootfs, dst, data, fi.Mode().Perm()|0o500); err != nil {
		return err
	}
	f, err := elf.Open(src)
	if err != nil {
		return nil // not ELF (a script): nothing more to copy
	}
	defer f.Close()
	var deps []string
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b, err := io.ReadAll(p.Open())
			if err == nil {
				deps = append(deps, strings.TrimRight(string(b), "\x00"))
			}
		}
	}
	// The binary's own search path first, as the dynamic loader does.
	dirs := []string{}
	for _, tag := range []elf.DynTag{elf.DT_RUNPATH, elf.DT_RPATH} {
		paths, _ := f.DynString(tag)
		for _, p := range paths {
			for _, d := range strings.Split(p, ":") {
				d = strings.ReplaceAll(d, "$ORIGIN", filepath.Dir(src))
				if filepath.IsAbs(d) {
					dirs = append(dirs, d)
				}
			}
		}
	}
	dirs = append(dirs, libDirs...)
	libs, _ := f.ImportedLibraries()
	for _, lib := range libs {
		found := ""
		for _, d := range dirs {
			if _, err := os.Stat(filepath.Join(d, lib)); err == nil {
				found = filepath.Join(d, lib)
				break
			}
		}
		if found == "" {
			return fmt.Errorf("%w: %s needs %s, not found in %s", ErrHostBusybox, src, lib, strings.Join(dirs, " "))
		}
		deps = append(deps, found)
	}
	for _, d := range deps {
		if d == "" || !filepath.IsAbs(d) {
			continue
		}
		if err := copyELF(rootfs, d, d, done); err != nil {
			return err
		}
	}
	return nil
}
