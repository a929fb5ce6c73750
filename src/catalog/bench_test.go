package catalog

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkPrepareStaticWeb is the rootfs part of a one-click install of
// static-web: a busybox rootfs (binary copy, applet links, /etc files)
// plus the app's page.
func BenchmarkPrepareStaticWeb(b *testing.B) {
	needBusybox(b)
	c, _ := Default()
	m, _ := c.Get("static-web")
	base := b.TempDir()
	for i := 0; i < b.N; i++ {
		dir := filepath.Join(base, "c")
		if err := Prepare(context.Background(), m, dir, PrepareOptions{Busybox: hostBusybox}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.RemoveAll(dir)
		b.StartTimer()
	}
}

// BenchmarkUntarRootfs unpacks a busybox rootfs tarball (uncompressed, so
// that the figure is the unpacking and its checks, not the decompression).
func BenchmarkUntarRootfs(b *testing.B) {
	data := busyboxTar(b)
	base := b.TempDir()
	b.SetBytes(int64(len(data)))
	for i := 0; i < b.N; i++ {
		dir := filepath.Join(base, "r")
		os.Mkdir(dir, 0o755)
		if _, err := Untar(bytes.NewReader(data), dir); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.RemoveAll(dir)
		b.StartTimer()
	}
}
