package catalog

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const hostBusybox = "/bin/busybox"

func needBusybox(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(hostBusybox); err != nil {
		t.Skip("no /bin/busybox (apt-get install busybox-static)")
	}
}

func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (chroot)")
	}
}

// tarDir writes dir as a tar stream, symlinks as links.
func tarDir(t testing.TB, dir string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			link, _ = os.Readlink(p)
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		hdr.Name = "./" + rel
		if fi.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(tw, f)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	tw.Close()
	return buf.Bytes()
}

// busyboxTar is a real rootfs tarball built from the host's busybox.
// Built once: compressing it (xz in pure Go) takes a while.
func busyboxTar(t testing.TB) []byte {
	needBusybox(t)
	testTars.Lock()
	defer testTars.Unlock()
	if testTars.plain == nil {
		root := filepath.Join(t.TempDir(), "rootfs")
		os.Mkdir(root, 0o755)
		if err := BuildBusyboxRootfs(root, hostBusybox, nil); err != nil {
			t.Fatal(err)
		}
		testTars.plain = tarDir(t, root)
	}
	return testTars.plain
}

func busyboxTarXZ(t testing.TB) []byte {
	plain := busyboxTar(t)
	testTars.Lock()
	defer testTars.Unlock()
	if testTars.xz == nil {
		testTars.xz = xzip(t, plain)
	}
	return testTars.xz
}

var testTars struct {
	sync.Mutex
	plain, xz []byte
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// runApp runs the prepared app's expanded command chrooted into the
// rootfs, on a loopback port, and returns its base URL and a stop
// function. (In a container the runtime's init runs it.)
func runApp(t *testing.T, m Manifest, rootfs string) (string, func() error) {
	port := freePort(t)
	v := Vars{Port: port, Addr: "127.0.0.1", Name: m.ID, Memory: m.Memory}
	// The rootfs's shell finds the command in the rootfs's PATH.
	cmd := exec.Command("/bin/sh", append([]string{"-c", `exec "$@"`, "sh"}, v.ExpandAll(m.Init)...)...)
	cmd.Dir = "/"
	cmd.Env = append([]string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}, v.ExpandAll(m.Env)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: rootfs}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop := func() error {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
			return nil
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			return errors.New("app did not stop on SIGTERM")
		}
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("app did not listen on %s: %s", addr, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "http://" + addr, stop
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s: %s", url, resp.Status, b)
	}
	return string(b)
}

func TestPrepareBusyboxApps(t *testing.T) {
	needBusybox(t)
	needRoot(t)
	c, _ := Default()
	t.Run("static-web", func(t *testing.T) {
		m, _ := c.Get("static-web")
		dir := t.TempDir()
		if err := Prepare(context.Background(), m, dir, PrepareOptions{Busybox: hostBusybox}); err != nil {
			t.Fatal(err)
		}
		rootfs := filepath.Join(dir, "rootfs")
		checkBusyboxRootfs(t, rootfs)
		url, stop := runApp(t, m, rootfs)
		if body := get(t, url+"/"); !strings.Contains(body, "It works") {
			t.Errorf("page: %q", body)
		}
		if err := stop(); err != nil {
			t.Error(err)
		}
	})
	t.Run("file-share", func(t *testing.T) {
		m, _ := c.Get("file-share")
		dir := t.TempDir()
		if err := Prepare(context.Background(), m, dir, PrepareOptions{Busybox: hostBusybox}); err != nil {
			t.Fatal(err)
		}
		rootfs := filepath.Join(dir, "rootfs")
		os.MkdirAll(filepath.Join(rootfs, "srv/share/photos"), 0o755)
		os.WriteFile(filepath.Join(rootfs, "srv/share/photos/cat.jpg"), []byte("meow"), 0o644)
		url, stop := runApp(t, m, rootfs)
		index := get(t, url+"/")
		if !strings.Contains(index, `href="README.txt"`) || !strings.Contains(index, `href="photos/"`) || strings.Contains(index, "cgi-bin") {
			t.Errorf("listing of /: %s", index)
		}
		if sub := get(t, url+"/photos/"); !strings.Contains(sub, `href="cat.jpg"`) {
			t.Errorf("listing of /photos/: %s", sub)
		}
		if f := get(t, url+"/photos/cat.jpg"); f != "meow" {
			t.Errorf("file: %q", f)
		}
		if err := stop(); err != nil {
			t.Error(err)
		}
	})
}

// checkBusyboxRootfs checks what nuvol's busybox rootfs must and must not
// have: no init or rcS, no DHCP client or other network tools.
func checkBusyboxRootfs(t *testing.T, rootfs string) {
	for _, p := range []string{"bin/busybox", "bin/sh", "usr/sbin/httpd", "etc/passwd", "etc/group", "tmp", "proc", "dev"} {
		if _, err := os.Lstat(filepath.Join(rootfs, p)); err != nil {
			t.Errorf("rootfs lacks %s: %v", p, err)
		}
	}
	for _, p := range []string{"etc/init.d/rcS", "sbin/udhcpc", "usr/bin/udhcpc", "sbin/ifconfig", "sbin/ip", "bin/ip", "sbin/route", "sbin/init"} {
		if _, err := os.Lstat(filepath.Join(rootfs, p)); err == nil {
			t.Errorf("rootfs has %s: a host-mode container must not be able to configure the network", p)
		}
	}
}

func TestPrepareBusyboxMissingApplet(t *testing.T) {
	needBusybox(t)
	m := validManifest()
	m.Source.Applets = []string{"no-such-applet"}
	err := Prepare(context.Background(), m, t.TempDir(), PrepareOptions{Busybox: hostBusybox})
	if !errors.Is(err, ErrHostBusybox) || !strings.Contains(err.Error(), "no-such-applet") {
		t.Fatalf("err = %v", err)
	}
}

// A host busybox without an applet (OpenWrt's has no httpd) can be
// stood in for by a host program, copied with its libraries.
func TestBusyboxFallback(t *testing.T) {
	needBusybox(t)
	needRoot(t)
	m := validManifest()
	m.Source.Applets = []string{"httpd", "no-such-applet"}
	m.Source.Fallback = map[string]string{"no-such-applet": "/bin/true", "httpd": "/nonexistent/uhttpd"}
	dir := t.TempDir()
	if err := Prepare(context.Background(), m, dir, PrepareOptions{Busybox: hostBusybox}); err != nil {
		t.Fatal(err)
	}
	rootfs := filepath.Join(dir, "rootfs")
	// httpd is busybox's (the fallback is only for what busybox lacks).
	if l, _ := os.Readlink(filepath.Join(rootfs, "usr/sbin/httpd")); l != "/bin/busybox" {
		t.Errorf("usr/sbin/httpd -> %q", l)
	}
	cmd := exec.Command("/usr/sbin/no-such-applet")
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: rootfs}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("stand-in does not run in the rootfs: %v %s", err, out)
	}
	m.Source.Fallback["no-such-applet"] = "/nonexistent/program"
	err := Prepare(context.Background(), m, t.TempDir(), PrepareOptions{Busybox: hostBusybox})
	if !errors.Is(err, ErrHostBusybox) || !strings.Contains(err.Error(), "/nonexistent/program") || !strings.Contains(err.Error(), `"no-such-applet"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestCopyDynamicBinary(t *testing.T) {
	needRoot(t)
	// /bin/true is dynamically linked on Debian: its loader and libc must
	// come along, as for OpenWrt's musl-linked busybox.
	root := t.TempDir()
	if err := copyELF(root, "/bin/true", "/bin/true", map[string]bool{}); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/true")
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("copied /bin/true does not run in a chroot: %v %s", err, out)
	}
}

// server is a local stand-in for a download site and an LXC image server.
type server struct {
	*httptest.Server
	files map[string][]byte
	hits  atomic.Int32
}

func newServer(t *testing.T, files map[string][]byte) *server {
	s := &server{files: files}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		b, ok := s.files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(s.Close)
	return s
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func TestPrepareTarball(t *testing.T) {
	plain := busyboxTar(t)
	tgz, txz := gz(t, plain), busyboxTarXZ(t)
	srv := newServer(t, map[string][]byte{"/rootfs.tar.gz": tgz, "/rootfs.tar.xz": txz, "/truncated.tar.gz": tgz[:len(tgz)/2]})
	m := validManifest()
	m.Source = Source{Type: SourceTarball}
	m.Files = map[string]string{"/srv/www/index.html": "hello"}

	for _, c := range []struct {
		name, path, sha string
		err             error
	}{
		{"tar.gz", "/rootfs.tar.gz", sum(tgz), nil},
		{"tar.xz", "/rootfs.tar.xz", sum(txz), nil},
		{"bad checksum", "/rootfs.tar.gz", sum(txz), ErrChecksum},
		{"truncated download", "/truncated.tar.gz", sum(tgz), ErrChecksum},
		{"not found", "/missing.tar.gz", sum(tgz), ErrDownload},
	} {
		t.Run(c.name, func(t *testing.T) {
			m.Source.URL, m.Source.SHA256 = srv.URL+c.path, c.sha
			dir := t.TempDir()
			err := Prepare(context.Background(), m, dir, PrepareOptions{ResolvConf: "-"})
			if !errors.Is(err, c.err) {
				t.Fatalf("err = %v, want %v", err, c.err)
			}
			if c.err != nil {
				if !strings.Contains(err.Error(), c.path) {
					t.Errorf("error %q does not name the URL", err)
				}
				// The checksum is checked before anything is unpacked.
				entries, _ := os.ReadDir(filepath.Join(dir, "rootfs"))
				if len(entries) != 0 {
					t.Errorf("rootfs has %d entries after a failed download", len(entries))
				}
				if _, err := os.Stat(filepath.Join(dir, ".download")); err == nil {
					t.Error("download left behind")
				}
				return
			}
			rootfs := filepath.Join(dir, "rootfs")
			for _, p := range []string{"bin/busybox", "srv/www/index.html"} {
				if _, err := os.Stat(filepath.Join(rootfs, p)); err != nil {
					t.Error(err)
				}
			}
			if l, _ := os.Readlink(filepath.Join(rootfs, "bin/sh")); l != "/bin/busybox" {
				t.Errorf("bin/sh -> %q", l)
			}
		})
	}
}

const imageTS = "20261120_13:00"

func imageServer(t *testing.T, rootfsXZ []byte, withSums string) *server {
	index := strings.Join([]string{
		"alpine;3.21;amd64;default;20261101_13:00;/images/alpine/3.21/amd64/default/20261101_13:00/",
		"alpine;3.22;amd64;default;20261119_13:00;/images/alpine/3.22/amd64/default/20261119_13:00/",
		"alpine;3.22;amd64;default;" + imageTS + ";/images/alpine/3.22/amd64/default/" + imageTS + "/",
		"alpine;3.22;arm64;default;" + imageTS + ";/images/alpine/3.22/arm64/default/" + imageTS + "/",
		"alpine;3.9;amd64;default;20261120_13:00;/images/alpine/3.9/amd64/default/20261120_13:00/",
		"alpine;edge;amd64;default;20261121_13:00;/images/alpine/edge/amd64/default/20261121_13:00/",
		"debian;bookworm;amd64;default;" + imageTS + ";/images/debian/bookworm/amd64/default/" + imageTS + "/",
		"",
	}, "\n")
	base := "/images/alpine/3.22/amd64/default/" + imageTS + "/"
	files := map[string][]byte{
		"/meta/1.0/index-system": []byte(index),
		base + "rootfs.tar.xz":   rootfsXZ,
	}
	if withSums != "" {
		files[base+"SHA256SUMS"] = []byte(withSums + "  rootfs.tar.xz\n" + strings.Repeat("0", 64) + "  meta.tar.xz\n")
	}
	return newServer(t, files)
}

// The paper's apps come from Alpine images. Without the internet they
// cannot run here, but their whole install path up to the setup commands
// runs against a local image server serving a busybox rootfs as "alpine".
func TestPrepareImagesDefaultApps(t *testing.T) {
	txz := busyboxTarXZ(t)
	srv := imageServer(t, txz, sum(txz))
	resolv := filepath.Join(t.TempDir(), "resolv.conf")
	os.WriteFile(resolv, []byte("nameserver 192.0.2.53\n"), 0o644)
	c, _ := Default()
	for _, id := range []string{"kanban", "mosquitto", "syncthing", "radicale"} {
		t.Run(id, func(t *testing.T) {
			m, _ := c.Get(id)
			if m.Source.Type != SourceImages || m.Source.Dist != "alpine" || len(m.Setup) == 0 {
				t.Fatalf("%s: source %+v, %d setup commands", id, m.Source, len(m.Setup))
			}
			if !strings.Contains(strings.Join(m.Setup[0], " "), "apk add") {
				t.Errorf("%s: first setup command %q is not apk add", id, m.Setup[0])
			}
			dir := t.TempDir()
			var logs []string
			err := Prepare(context.Background(), m, dir, PrepareOptions{
				Arch: "amd64", ImageServer: srv.URL + "/", ResolvConf: resolv,
				Logf: func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) },
			})
			if err != nil {
				t.Fatal(err)
			}
			rootfs := filepath.Join(dir, "rootfs")
			if b, _ := os.ReadFile(filepath.Join(rootfs, "etc/resolv.conf")); string(b) != "nameserver 192.0.2.53\n" {
				t.Errorf("resolv.conf %q", b)
			}
			if !strings.Contains(strings.Join(logs, "\n"), "alpine 3.22 amd64 default ("+imageTS+")") {
				t.Errorf("did not pick the newest 3.22 build: %q", logs)
			}
			// Setup and init expand to the installed port.
			v := Vars{Port: 4242, Addr: "0.0.0.0", Name: "x"}
			all := strings.Join(v.ExpandAll(m.Init), " ")
			for _, s := range m.Setup {
				all += " " + strings.Join(v.ExpandAll(s), " ")
			}
			if !strings.Contains(all, "4242") || strings.Contains(all, "${") {
				t.Errorf("%s: init/setup do not use the port: %s", id, all)
			}
		})
	}
}

func TestPrepareImagesErrors(t *testing.T) {
	txz := busyboxTarXZ(t)
	m := validManifest()
	m.Source = Source{Type: SourceImages, Dist: "alpine", Release: "3.22"}
	t.Run("checksum", func(t *testing.T) {
		srv := imageServer(t, txz, sum([]byte("other")))
		dir := t.TempDir()
		err := Prepare(context.Background(), m, dir, PrepareOptions{Arch: "amd64", ImageServer: srv.URL, ResolvConf: "-"})
		if !errors.Is(err, ErrChecksum) {
			t.Fatalf("err = %v", err)
		}
		if entries, _ := os.ReadDir(filepath.Join(dir, "rootfs")); len(entries) != 0 {
			t.Error("unpacked before the checksum was checked")
		}
	})
	t.Run("no SHA256SUMS", func(t *testing.T) {
		srv := imageServer(t, txz, "")
		if err := Prepare(context.Background(), m, t.TempDir(), PrepareOptions{Arch: "amd64", ImageServer: srv.URL, ResolvConf: "-"}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("no image for arch", func(t *testing.T) {
		srv := imageServer(t, txz, "")
		err := Prepare(context.Background(), m, t.TempDir(), PrepareOptions{Arch: "armhf", ImageServer: srv.URL, ResolvConf: "-"})
		if !errors.Is(err, ErrNoImage) || !strings.Contains(err.Error(), "alpine 3.22 armhf default") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("arch not supported by app", func(t *testing.T) {
		m := m
		m.Arch = []string{"arm64"}
		err := Prepare(context.Background(), m, t.TempDir(), PrepareOptions{Arch: "mips"})
		if !errors.Is(err, ErrArch) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("server down", func(t *testing.T) {
		srv := imageServer(t, txz, "")
		srv.Close()
		err := Prepare(context.Background(), m, t.TempDir(), PrepareOptions{Arch: "amd64", ImageServer: srv.URL})
		if !errors.Is(err, ErrDownload) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestSelectImage(t *testing.T) {
	entries, err := ParseIndex(strings.NewReader("alpine;3.9;amd64;default;1;/a/\nalpine;3.22;amd64;default;1;/b\nalpine;3.22;amd64;default;2;/c/\nalpine;edge;amd64;default;9;/d/\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ release, path string }{{"latest", "/c/"}, {"3.9", "/a/"}, {"edge", "/d/"}, {"3.22", "/c/"}} {
		e, err := SelectImage(entries, "alpine", c.release, "amd64", "")
		if err != nil || e.Path != c.path {
			t.Errorf("%s: %+v %v, want %s", c.release, e, err, c.path)
		}
	}
	for _, bad := range []string{"a;b;c", "a;b;c;d;e;relative/", "a;b;c;d;e;/x/../y/", "a;;c;d;e;/x/"} {
		if _, err := ParseIndex(strings.NewReader("alpine;3.22;amd64;default;1;/ok/\n" + bad + "\n")); err == nil || !strings.Contains(err.Error(), "index-system:2:") {
			t.Errorf("%q: err = %v", bad, err)
		}
	}
}

func FuzzIndex(f *testing.F) {
	f.Add("alpine;3.22;amd64;default;20261120_13:00;/images/alpine/3.22/amd64/default/20261120_13:00/\n")
	f.Add("a;b;c;d;e;/f\n#x\n\n;;;;;\n")
	f.Fuzz(func(t *testing.T, s string) {
		entries, err := ParseIndex(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, e := range entries {
			if !strings.HasPrefix(e.Path, "/") || !strings.HasSuffix(e.Path, "/") || strings.Contains(e.Path, "..") {
				t.Fatalf("bad path accepted: %q", e.Path)
			}
			SelectImage(entries, e.Dist, "latest", e.Arch, e.Variant)
		}
	})
}

func TestArchNames(t *testing.T) {
	for _, c := range [][3]string{{"amd64", "", "amd64"}, {"arm64", "", "arm64"}, {"arm", "7", "armhf"}, {"arm", "5", "armel"}, {"mipsle", "", "mipsel"}, {"mips", "", "mips"}, {"386", "", "i386"}, {"riscv64", "", "riscv64"}} {
		if got := ImageArch(c[0], c[1]); got != c[2] {
			t.Errorf("ImageArch(%s, %s) = %s, want %s", c[0], c[1], got, c[2])
		}
	}
	for in, want := range map[string]string{"x86_64": "amd64", "aarch64_cortex-a53": "arm64", "arm_cortex-a9_vfpv3-d16": "armhf", "mipsel_24kc": "mipsel", "mips_24kc": "mips", "arm_arm926ej-s": "armel"} {
		if got := OpenWrtArch(in); got != want {
			t.Errorf("OpenWrtArch(%s) = %s, want %s", in, got, want)
		}
	}
	if HostArch() == "" {
		t.Error("no host arch")
	}
}
