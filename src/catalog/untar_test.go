package catalog

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ulikunitz/xz"
)

type entry struct {
	name, link, body string
	typ              byte
	mode             int64
}

func makeTar(t testing.TB, entries []entry) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		hdr := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: typ, Mode: mode, Size: int64(len(e.body)), Format: tar.FormatPAX}
		if typ != tar.TypeReg {
			hdr.Size = 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	return buf.Bytes()
}

// untarJail unpacks into jail/root and reports anything that appeared in
// jail outside root: an escape.
func untarJail(t testing.TB, data []byte) (string, error) {
	jail := t.TempDir()
	root := filepath.Join(jail, "root")
	os.Mkdir(root, 0o755)
	os.WriteFile(filepath.Join(jail, "victim"), []byte("original"), 0o644)
	_, err := Untar(bytes.NewReader(data), root)
	names, _ := os.ReadDir(jail)
	if len(names) != 2 {
		t.Fatalf("something escaped the rootfs: %v", names)
	}
	if b, _ := os.ReadFile(filepath.Join(jail, "victim")); string(b) != "original" {
		t.Fatalf("file outside the rootfs was overwritten: %q", b)
	}
	return root, err
}

func TestUntarRefuses(t *testing.T) {
	tests := []struct {
		name    string
		entries []entry
		entry   string // the entry the error must name
	}{
		{"dotdot", []entry{{name: "../victim", body: "x"}}, "../victim"},
		{"dotdot inside", []entry{{name: "a/../../victim", body: "x"}}, "a/../../victim"},
		{"absolute", []entry{{name: "/etc/passwd", body: "x"}}, "/etc/passwd"},
		{"through absolute symlink", []entry{
			{name: "etc", typ: tar.TypeSymlink, link: "/"},
			{name: "etc/victim", body: "x"}}, "etc/victim"},
		{"through relative symlink", []entry{
			{name: "up", typ: tar.TypeSymlink, link: ".."},
			{name: "up/victim", body: "x"}}, "up/victim"},
		{"dir through symlink", []entry{
			{name: "up", typ: tar.TypeSymlink, link: ".."},
			{name: "up/newdir/", typ: tar.TypeDir, mode: 0o755}}, "up/newdir/"},
		{"symlink through symlink", []entry{
			{name: "up", typ: tar.TypeSymlink, link: ".."},
			{name: "up/l", typ: tar.TypeSymlink, link: "/etc"}}, "up/l"},
		{"hard link outside", []entry{{name: "h", typ: tar.TypeLink, link: "../victim"}}, "h"},
		{"hard link absolute", []entry{{name: "h", typ: tar.TypeLink, link: "/etc/passwd"}}, "h"},
		{"hard link via symlink", []entry{
			{name: "up", typ: tar.TypeSymlink, link: ".."},
			{name: "h", typ: tar.TypeLink, link: "up/victim"}}, "h"},
		{"file replaces dir", []entry{
			{name: "d/", typ: tar.TypeDir, mode: 0o755},
			{name: "d", body: "x"}}, "d"},
		{"empty link", []entry{{name: "l", typ: tar.TypeSymlink}}, "l"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := untarJail(t, makeTar(t, tt.entries))
			var ee *EntryError
			if !errors.As(err, &ee) || ee.Entry != tt.entry {
				t.Fatalf("err = %v, want an error naming %q", err, tt.entry)
			}
			if !strings.Contains(err.Error(), `"`+tt.entry+`"`) {
				t.Errorf("message %q does not name the entry", err)
			}
		})
	}
}

func TestUntarRootfs(t *testing.T) {
	data := makeTar(t, []entry{
		{name: "./", typ: tar.TypeDir, mode: 0o755},
		{name: "./bin/", typ: tar.TypeDir, mode: 0o755},
		{name: "./bin/busybox", body: "ELF", mode: 0o755},
		{name: "./bin/sh", typ: tar.TypeSymlink, link: "/bin/busybox"}, // absolute: kept
		{name: "bin/ls", typ: tar.TypeSymlink, link: "busybox"},
		{name: "bin/su", typ: tar.TypeLink, link: "bin/busybox"},
		{name: "bin/passwd", body: "p", mode: 0o4755},
		{name: "etc/resolv.conf", typ: tar.TypeSymlink, link: "/run/resolv.conf"},
		{name: "etc/resolv.conf", body: "nameserver 127.0.0.1\n"}, // replaces the link, not its target
		{name: "dev/null", typ: tar.TypeChar},
		{name: "dev/sda", typ: tar.TypeBlock},
		{name: "run/fifo", typ: tar.TypeFifo},
		{name: "tmp/", typ: tar.TypeDir, mode: 0o1777},
		{name: "bin/sh", typ: tar.TypeSymlink, link: "/bin/busybox"}, // again: replaced
	})
	for _, c := range []struct {
		name string
		data []byte
	}{{"tar", data}, {"gz", gz(t, data)}, {"xz", xzip(t, data)}} {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			r, err := Decompress(bytes.NewReader(c.data))
			if err != nil {
				t.Fatal(err)
			}
			st, err := Untar(r, root)
			if err != nil {
				t.Fatal(err)
			}
			if st.Skipped != 3 || st.Symlinks != 4 || st.Hardlinks != 1 {
				t.Errorf("stats %+v", st)
			}
			if l, err := os.Readlink(filepath.Join(root, "bin/sh")); err != nil || l != "/bin/busybox" {
				t.Errorf("bin/sh -> %q, %v", l, err)
			}
			fi, err := os.Lstat(filepath.Join(root, "etc/resolv.conf"))
			if err != nil || !fi.Mode().IsRegular() {
				t.Errorf("etc/resolv.conf: %v %v", fi, err)
			}
			if _, err := os.Lstat(filepath.Join(root, "run/resolv.conf")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("written through the link: %v", err)
			}
			for _, dev := range []string{"dev/null", "dev/sda", "run/fifo"} {
				if _, err := os.Lstat(filepath.Join(root, dev)); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%s was created", dev)
				}
			}
			if fi, _ := os.Stat(filepath.Join(root, "bin/passwd")); fi.Mode()&os.ModeSetuid == 0 {
				t.Errorf("bin/passwd lost setuid: %v", fi.Mode())
			}
			if fi, _ := os.Stat(filepath.Join(root, "tmp")); fi.Mode()&os.ModeSticky == 0 {
				t.Errorf("tmp lost sticky: %v", fi.Mode())
			}
			a, _ := os.Stat(filepath.Join(root, "bin/su"))
			b, _ := os.Stat(filepath.Join(root, "bin/busybox"))
			if !os.SameFile(a, b) {
				t.Error("bin/su is not a hard link")
			}
		})
	}
}

func TestUntarTruncated(t *testing.T) {
	data := makeTar(t, []entry{{name: "a", body: strings.Repeat("x", 5000)}})
	_, err := Untar(bytes.NewReader(data[:1500]), t.TempDir())
	if err == nil {
		t.Fatal("truncated tar accepted")
	}
}

func gz(t testing.TB, data []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(data)
	w.Close()
	return buf.Bytes()
}

func xzip(t testing.TB, data []byte) []byte {
	var buf bytes.Buffer
	w, err := xz.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	w.Close()
	return buf.Bytes()
}

func FuzzUntar(f *testing.F) {
	f.Add(makeTar(f, []entry{{name: "a/b", body: "x"}, {name: "l", typ: tar.TypeSymlink, link: "/"}, {name: "l/x", body: "y"}}))
	f.Add(makeTar(f, []entry{{name: "../x", body: "x"}}))
	f.Add(makeTar(f, []entry{{name: "u", typ: tar.TypeSymlink, link: ".."}, {name: "h", typ: tar.TypeLink, link: "u/victim"}}))
	f.Add(makeTar(f, []entry{{name: "d/", typ: tar.TypeDir}, {name: "d/e/f", body: "z"}, {name: "d/e", typ: tar.TypeSymlink, link: "../.."}}))
	f.Add([]byte("not a tar"))
	f.Fuzz(func(t *testing.T, data []byte) {
		jail, err := os.MkdirTemp("", "nuvol-fuzz-untar-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(jail)
		root := filepath.Join(jail, "root")
		os.Mkdir(root, 0o755)
		start := time.Now()
		Untar(bytes.NewReader(data), root)
		if d := time.Since(start); d > time.Second {
			t.Fatalf("Untar took %s", d)
		}
		if names, _ := os.ReadDir(jail); len(names) != 1 {
			t.Fatalf("something escaped the rootfs: %v", names)
		}
		// Whatever was unpacked is inside root, and regular files are
		// reached without crossing a symbolic link.
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			rel, _ := filepath.Rel(root, p)
			if strings.HasPrefix(rel, "..") {
				t.Fatalf("%s outside root", p)
			}
			if d.Type()&(fs.ModeDevice|fs.ModeNamedPipe|fs.ModeCharDevice) != 0 {
				t.Fatalf("device or fifo %s created", p)
			}
			return nil
		})
	})
}

func TestUntarRefusesSparse(t *testing.T) {
	// An old-GNU sparse entry ('S'): 1 GiB of holes around one byte of
	// data. archive/tar does not write these, so patch a GNU header.
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "big", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1, Format: tar.FormatGNU}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte("x"))
	tw.Close()
	b := buf.Bytes()
	hdr := b[:512]
	hdr[156] = tar.TypeGNUSparse
	octal := func(off, n int, v int64) { copy(hdr[off:off+n], fmt.Sprintf("%0*o", n-1, v)) }
	octal(386, 12, 1<<30-1) // sparse[0].offset
	octal(398, 12, 1)       // sparse[0].numbytes
	octal(483, 12, 1<<30)   // realsize
	copy(hdr[148:156], "        ")
	var sum int64
	for _, c := range hdr {
		sum += int64(c)
	}
	copy(hdr[148:156], fmt.Sprintf("%06o\x00 ", sum))

	root := t.TempDir()
	_, err := Untar(bytes.NewReader(b), root)
	var ee *EntryError
	if !errors.As(err, &ee) || !errors.Is(err, ErrUnsafeEntry) || !strings.Contains(err.Error(), "sparse") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "big")); err == nil {
		t.Error("sparse file written")
	}
}
