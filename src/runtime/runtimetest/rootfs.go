// Package runtimetest holds the conformance suite every runtime backend
// passes on real containers, and a builder for the busybox rootfs it uses.
package runtimetest

import (
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// HostBusybox is where Debian's busybox-static (and OpenWrt) keep busybox.
const HostBusybox = "/bin/busybox"

// Applets linked into the test rootfs. Nothing here configures a network:
// host-mode containers share the host's interfaces.
var Applets = []string{"sh", "httpd", "sleep", "cat", "echo", "kill", "ps", "ls", "hostname", "env", "true", "false", "wc", "head", "grep", "mkdir", "wget"}

// CheckStatic returns an error unless path is a statically linked ELF
// program: a dynamic busybox would find no libc in the rootfs.
func CheckStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked (install busybox-static)", path)
		}
	}
	return nil
}

// MakeRootfs builds a minimal rootfs in dir/rootfs: a copy of busybox,
// symbolic links for Applets, the mount points LXC needs and a web page in
// /www. It writes no init and no rcS: the runtime runs Spec.Init.
func MakeRootfs(dir, busybox string) error {
	if err := CheckStatic(busybox); err != nil {
		return err
	}
	root := filepath.Join(dir, "rootfs")
	for _, d := range []string{"bin", "sbin", "etc", "proc", "sys", "dev", "tmp", "www", "root", "var", "run"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	if err := copyFile(busybox, filepath.Join(root, "bin", "busybox")); err != nil {
		return err
	}
	for _, a := range Applets {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", a)); err != nil {
			return err
		}
	}
	files := map[string]string{
		"etc/passwd":     "root:x:0:0:root:/root:/bin/sh\n",
		"etc/group":      "root:x:0:\n",
		"www/index.html": "<h1>nuvol test page</h1>\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(body), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
