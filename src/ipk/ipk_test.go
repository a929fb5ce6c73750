package ipk

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var epoch = time.Unix(1700000000, 0)

func samplePackage() *Package {
	return &Package{
		Control: Control{
			Package: "demo", Version: "1.0-1", Depends: []string{"lxc-start", "kmod-veth"},
			Source: "feeds/demo/demo", SourceName: "demo", License: "MIT", Section: "net",
			Architecture: "x86_64", Description: "A demo.\n  Second line.",
		},
		Conffiles: []string{"/etc/config/demo"},
		Files: []File{
			{Path: "/usr/sbin/demo", Mode: 0o755, Data: []byte("\x7fELF not really")},
			{Path: "/etc/init.d/demo", Mode: 0o755, Data: []byte("#!/bin/sh /etc/rc.common\n")},
			{Path: "/etc/config/demo", Mode: 0o644, Data: []byte("config demo 'main'\n")},
			{Path: "/etc/uci-defaults/90-demo", Mode: 0o644, Data: []byte("exit 0\n")},
		},
	}
}

func TestTreeOrder(t *testing.T) {
	entries, err := treeEntries([]File{
		{Path: "/a-b/y", Mode: 0o644},
		{Path: "/a/x", Mode: 0o644},
		{Path: "/etc/config/nuvol", Mode: 0o644},
		{Path: "/etc/init.d/nuvol", Mode: 0o755},
		{Path: "/B", Mode: 0o644},
	})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.name)
	}
	want := "./ ./B ./a/ ./a/x ./a-b/ ./a-b/y ./etc/ ./etc/config/ ./etc/config/nuvol ./etc/init.d/ ./etc/init.d/nuvol"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("order:\n got %s\nwant %s", got, want)
	}
}

func TestTreeErrors(t *testing.T) {
	for _, files := range [][]File{
		{{Path: "relative"}},
		{{Path: "/"}},
		{{Path: "/a/../b"}},
		{{Path: "/a//b"}},
		{{Path: "/a/"}},
		{{Path: "/a"}, {Path: "/a"}},
		{{Path: "/a"}, {Path: "/a/b"}},
		{{Path: "/a/b"}, {Path: "/a"}},
	} {
		if _, err := treeEntries(files); err == nil {
			t.Errorf("%v: no error", files)
		}
	}
}

func TestControlText(t *testing.T) {
	c := samplePackage().Control
	c.URL = "https://example.org"
	want := "Package: demo\nVersion: 1.0-1\nDepends: lxc-start, kmod-veth\nSource: feeds/demo/demo\n" +
		"SourceName: demo\nLicense: MIT\nSection: net\nURL: https://example.org\nArchitecture: x86_64\n" +
		"Installed-Size: 10240\nDescription:  A demo.\n Second line.\n"
	if got := c.Text(10240); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestCheck(t *testing.T) {
	for name, mod := range map[string]func(p *Package){
		"no name":          func(p *Package) { p.Control.Package = "" },
		"bad name":         func(p *Package) { p.Control.Package = "de mo" },
		"no version":       func(p *Package) { p.Control.Version = "" },
		"version with _":   func(p *Package) { p.Control.Version = "1_2" },
		"no arch":          func(p *Package) { p.Control.Architecture = "" },
		"newline field":    func(p *Package) { p.Control.License = "MIT\nX: y" },
		"empty depend":     func(p *Package) { p.Control.Depends = []string{""} },
		"comma depend":     func(p *Package) { p.Control.Depends = []string{"a, b"} },
		"missing conffile": func(p *Package) { p.Conffiles = []string{"/etc/config/other"} },
		"bad path":         func(p *Package) { p.Files[0].Path = "usr/sbin/demo" },
	} {
		p := samplePackage()
		mod(p)
		if _, err := p.Build(epoch); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestReadBack reads a built package the way opkg does and checks every
// part of it.
func TestReadBack(t *testing.T) {
	p := samplePackage()
	p.Postinst = "echo own code"
	raw, err := p.Build(epoch)
	if err != nil {
		t.Fatal(err)
	}
	if p.FileName() != "demo_1.0-1_x86_64.ipk" {
		t.Errorf("file name %s", p.FileName())
	}
	// The outer file is gzip, not ar ("!<arch>").
	if !bytes.HasPrefix(raw, []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3}) {
		t.Errorf("outer header % x, want gzip -n's 1f 8b 08 00 00000000 00 03", raw[:10])
	}
	a, err := Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(a.Members, " "); got != "./debian-binary ./data.tar.gz ./control.tar.gz" {
		t.Errorf("members %s", got)
	}
	if a.DebianBinary != "2.0\n" {
		t.Errorf("debian-binary %q", a.DebianBinary)
	}
	for _, e := range a.Outer {
		if e.Mode != 0o644 || e.Type != '0' {
			t.Errorf("outer %s: mode %o type %c", e.Name, e.Mode, e.Type)
		}
		if strings.HasSuffix(e.Name, ".gz") && !bytes.HasPrefix(e.Data, []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3}) {
			t.Errorf("%s: gzip header % x", e.Name, e.Data[:10])
		}
	}
	var names []string
	for _, e := range a.ControlFiles {
		names = append(names, e.Name)
	}
	if got := strings.Join(names, " "); got != "./ ./conffiles ./control ./postinst ./postinst-pkg ./prerm" {
		t.Errorf("control.tar.gz: %s", got)
	}
	for name, mode := range map[string]int64{"conffiles": 0o644, "control": 0o644, "postinst": 0o755, "postinst-pkg": 0o755, "prerm": 0o755} {
		e, _ := a.ControlFile(name)
		if e.Mode != mode {
			t.Errorf("%s mode %o, want %o", name, e.Mode, mode)
		}
	}
	post, _ := a.ControlFile("postinst")
	for _, line := range []string{`[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0`, `. ${IPKG_INSTROOT}/lib/functions.sh`, `default_postinst $0 "$@"`} {
		if !strings.Contains(string(post.Data), line+"\n") {
			t.Errorf("postinst lacks %q:\n%s", line, post.Data)
		}
	}
	prerm, _ := a.ControlFile("prerm")
	if !strings.Contains(string(prerm.Data), "default_prerm $0 \"$@\"\n") {
		t.Errorf("prerm:\n%s", prerm.Data)
	}
	own, _ := a.ControlFile("postinst-pkg")
	if string(own.Data) != "echo own code\n" {
		t.Errorf("postinst-pkg %q", own.Data)
	}
	if strings.Join(a.Conffiles, ",") != "/etc/config/demo" {
		t.Errorf("conffiles %q", a.Conffiles)
	}
	want := map[string]string{"Package": "demo", "Version": "1.0-1", "Depends": "lxc-start, kmod-veth",
		"Source": "feeds/demo/demo", "SourceName": "demo", "License": "MIT", "Section": "net",
		"Architecture": "x86_64", "Description": "A demo.\nSecond line."}
	for k, v := range want {
		if got, _ := a.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	if size, _ := a.Get("Installed-Size"); size != "10240" || a.DataTarSize != 10240 {
		t.Errorf("Installed-Size %s, data tar %d bytes", size, a.DataTarSize)
	}
	modes := map[string]int64{"./": 0o755, "./etc/": 0o755, "./etc/config/demo": 0o644, "./etc/init.d/demo": 0o755,
		"./usr/sbin/demo": 0o755, "./etc/uci-defaults/90-demo": 0o644}
	for _, e := range a.Data {
		if m, ok := modes[e.Name]; ok && m != e.Mode {
			t.Errorf("%s mode %o, want %o", e.Name, e.Mode, m)
		}
		delete(modes, e.Name)
		if e.UID != 0 || e.GID != 0 || e.Uname != "" || e.Gname != "" || e.ModTime != epoch.Unix() {
			t.Errorf("%s: owner %d:%d (%q:%q) mtime %d", e.Name, e.UID, e.GID, e.Uname, e.Gname, e.ModTime)
		}
	}
	if len(modes) != 0 {
		t.Errorf("missing from data: %v", modes)
	}
	if e, _ := a.DataFile("/usr/sbin/demo"); string(e.Data) != "\x7fELF not really" {
		t.Errorf("binary content %q", e.Data)
	}
}

func TestReproducible(t *testing.T) {
	a, err := samplePackage().Build(epoch)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := samplePackage().Build(epoch)
	if !bytes.Equal(a, b) {
		t.Error("two builds differ")
	}
	c, _ := samplePackage().Build(epoch.Add(time.Second))
	if bytes.Equal(a, c) {
		t.Error("a different SOURCE_DATE_EPOCH gave the same bytes")
	}
}

func TestDir(t *testing.T) {
	dir := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(dir, "luci-static/resources/view/nuvol"), 0o700))
	must(t, os.WriteFile(filepath.Join(dir, "luci-static/resources/view/nuvol/apps.js"), []byte("x"), 0o600))
	must(t, os.WriteFile(filepath.Join(dir, "run.sh"), []byte("y"), 0o700))
	must(t, os.Symlink("run.sh", filepath.Join(dir, "link")))
	files, err := Dir(dir, "/www")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range files {
		got[f.Path] = f.Mode.String() + " " + f.Link
	}
	want := map[string]string{"/www/luci-static/resources/view/nuvol/apps.js": "-rw-r--r-- ",
		"/www/run.sh": "-rwxr-xr-x ", "/www/link": "---------- run.sh"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
	if files, err := Dir(filepath.Join(dir, "missing"), "/"); err != nil || files != nil {
		t.Errorf("missing dir: %v %v", files, err)
	}
}

// TestMatchesGNUTar writes one tree to disk and packs it with GNU tar using
// ipkg-build's own flags, then checks that our tar streams are the same
// bytes: data.tar, control.tar and the outer tar (gunzipped), and the gzip
// headers. Only the deflate payloads may differ (Go's deflate is not gzip's).
func TestMatchesGNUTar(t *testing.T) {
	if out, err := exec.Command("tar", "--version").Output(); err != nil || !bytes.Contains(out, []byte("GNU tar")) {
		t.Skip("GNU tar not available")
	}
	if _, err := exec.LookPath("gzip"); err != nil {
		t.Skip("gzip not available")
	}
	p := samplePackage()
	long := "/www/luci-static/resources/view/nuvol/" + strings.Repeat("x", 70) + ".js"
	p.Files = append(p.Files,
		File{Path: long, Mode: 0o644, Data: bytes.Repeat([]byte("long "), 300)},
		File{Path: "/a/x", Mode: 0o644}, File{Path: "/a-b/y", Mode: 0o600},
		File{Path: "/usr/bin/demo-alias", Link: "../sbin/demo"})
	p.Prerm = "echo bye"
	raw, err := p.Build(epoch)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}

	// The package directory ipkg-build would be given: data plus CONTROL/.
	dir := t.TempDir()
	pkg := filepath.Join(dir, "pkg")
	for _, e := range a.Data {
		writeEntry(t, pkg, e)
	}
	for _, e := range a.ControlFiles {
		writeEntry(t, filepath.Join(pkg, "CONTROL"), e)
	}
	// ipkg-build runs under fakeroot; --owner/--group stand in for it.
	stamp := "--mtime=@1700000000"
	gnu := func(dir string, args ...string) []byte {
		t.Helper()
		cmd := exec.Command("tar", append([]string{"--format=gnu", "--numeric-owner", "--owner=0", "--group=0", "--sort=name", "-c", "-f", "-", stamp}, args...)...)
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("tar %v: %v", args, err)
		}
		return out
	}
	dataWant := gnu(pkg, "--exclude=./CONTROL", ".")
	controlWant := gnu(filepath.Join(pkg, "CONTROL"), ".")
	outerEntries := filepath.Join(dir, "outer")
	must(t, os.Mkdir(outerEntries, 0o755))
	for _, e := range a.Outer {
		must(t, os.WriteFile(filepath.Join(outerEntries, e.Name), e.Data, 0o644))
		must(t, os.Chmod(filepath.Join(outerEntries, e.Name), os.FileMode(e.Mode)))
	}
	outerWant := gnu(outerEntries, "./debian-binary", "./data.tar.gz", "./control.tar.gz")

	for _, c := range []struct {
		name      string
		gz        []byte
		gnuTar    []byte
		checkSize bool
	}{
		{"data.tar.gz", a.Outer[1].Data, dataWant, true},
		{"control.tar.gz", a.Outer[2].Data, controlWant, false},
		{"outer", raw, outerWant, false},
	} {
		got := gunzip(t, c.gz)
		if !bytes.Equal(got, c.gnuTar) {
			i := 0
			for i < len(got) && i < len(c.gnuTar) && got[i] == c.gnuTar[i] {
				i++
			}
			t.Errorf("%s: differs from GNU tar at byte %d (ours %d bytes, GNU %d)", c.name, i, len(got), len(c.gnuTar))
		}
		if c.checkSize {
			if size, _ := a.Get("Installed-Size"); size != strconv.Itoa(len(c.gnuTar)) {
				t.Errorf("Installed-Size %s, GNU data tar is %d bytes", size, len(c.gnuTar))
			}
		}
		cmd := exec.Command("gzip", "-n", "-c")
		cmd.Stdin = bytes.NewReader(got)
		zipped, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(zipped[:10], c.gz[:10]) {
			t.Errorf("%s: gzip header % x, gzip -n writes % x", c.name, c.gz[:10], zipped[:10])
		}
	}
}

func writeEntry(t *testing.T, root string, e Entry) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(e.Name))
	switch e.Type {
	case '5':
		must(t, os.MkdirAll(p, 0o755))
		must(t, os.Chmod(p, os.FileMode(e.Mode)))
	case '2':
		must(t, os.Symlink(e.Link, p))
	default:
		must(t, os.WriteFile(p, e.Data, 0o600))
		must(t, os.Chmod(p, os.FileMode(e.Mode)))
	}
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
