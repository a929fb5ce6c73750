package catalog

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRealUhttpdFallback runs static-web and file-share with OpenWrt's
// uhttpd standing in for busybox httpd, as on a router whose busybox has
// no httpd. uhttpd is not packaged for Debian: build it from
// github.com/openwrt/uhttpd outside the repo and set NUVOL_REAL_UHTTPD to
// the binary.
func TestRealUhttpdFallback(t *testing.T) {
	uhttpd := os.Getenv("NUVOL_REAL_UHTTPD")
	if uhttpd == "" {
		t.Skip("NUVOL_REAL_UHTTPD not set")
	}
	needBusybox(t)
	needRoot(t)
	c, _ := Default()
	for _, id := range []string{"static-web", "file-share"} {
		t.Run(id, func(t *testing.T) {
			m, _ := c.Get(id)
			// Pretend the host busybox lacks httpd: ask for an applet
			// it does not have, with uhttpd as its stand-in, and run
			// that instead of httpd.
			m.Source.Applets = []string{"uhttpd-as-httpd"}
			m.Source.Fallback = map[string]string{"uhttpd-as-httpd": uhttpd}
			m.Init[0] = "uhttpd-as-httpd"
			dir := t.TempDir()
			if err := Prepare(context.Background(), m, dir, PrepareOptions{Busybox: hostBusybox}); err != nil {
				t.Fatal(err)
			}
			rootfs := filepath.Join(dir, "rootfs")
			os.WriteFile(filepath.Join(rootfs, "srv/share/notes.txt"), []byte("n"), 0o644)
			url, stop := runApp(t, m, rootfs)
			body := get(t, url+"/")
			switch id {
			case "static-web":
				if !strings.Contains(body, "It works") {
					t.Errorf("page %q", body)
				}
			case "file-share":
				if !strings.Contains(body, "notes.txt") || !strings.Contains(body, "README.txt") {
					t.Errorf("listing %q", body)
				}
				if got := get(t, url+"/notes.txt"); got != "n" {
					t.Errorf("file %q", got)
				}
			}
			if err := stop(); err != nil {
				t.Error(err)
			}
		})
	}
}
