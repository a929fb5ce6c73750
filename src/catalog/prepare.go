package catalog

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DefaultImageServer is the LXC image server used when none is configured.
const DefaultImageServer = "https://images.linuxcontainers.org"

// Errors Prepare wraps, so that callers can tell the causes apart.
var (
	ErrChecksum    = errors.New("sha256 mismatch")
	ErrDownload    = errors.New("download failed")
	ErrNoImage     = errors.New("no such image")
	ErrArch        = errors.New("app does not run on this architecture")
	ErrHostBusybox = errors.New("host busybox unusable")
)

// PrepareOptions says how Prepare gets and builds a rootfs.
type PrepareOptions struct {
	Arch        string       // image-server architecture; "" = this binary's (HostArch)
	ImageServer string       // "" = DefaultImageServer
	HTTPClient  *http.Client // nil = a client with a 10 min timeout
	Busybox     string       // host busybox for busybox sources; "" = /bin/busybox
	// ResolvConf is copied into downloaded rootfs so that setup commands
	// (apk add) resolve names; "" = /etc/resolv.conf, "-" = none.
	ResolvConf string
	Logf       func(format string, args ...any)
}

func (o *PrepareOptions) logf(format string, args ...any) {
	if o.Logf != nil {
		o.Logf(format, args...)
	}
}

// Prepare builds dir/rootfs for the app: it creates or downloads the file
// system and writes the manifest's files. It installs no init: the
// runtime runs the app under its own minimal init, whatever the rootfs
// brings (an image's /sbin/init would start OpenRC and its networking,
// which in host mode is the router's). Downloads
// go to a file inside dir (so they are on the container's file system and
// a full disk shows up here) and are checked before anything is unpacked.
// On error dir may hold a partial rootfs; the caller removes dir.
func Prepare(ctx context.Context, m Manifest, dir string, opts PrepareOptions) error {
	if err := m.Validate(); err != nil {
		return err
	}
	arch := opts.Arch
	if arch == "" {
		arch = HostArch()
	}
	if !m.RunsOn(arch) {
		return fmt.Errorf("%s: %w: %s (it runs on %s)", m.ID, ErrArch, arch, strings.Join(m.Arch, ", "))
	}
	rootfs := filepath.Join(dir, "rootfs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		return fmt.Errorf("%s: %w", m.ID, err)
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 10 * time.Minute}
	}
	switch m.Source.Type {
	case SourceBusybox:
		bb := opts.Busybox
		if bb == "" {
			bb = "/bin/busybox"
		}
		if err := BuildBusyboxRootfsFallback(rootfs, bb, m.Source.Applets, m.Source.Fallback); err != nil {
			return fmt.Errorf("%s: %w", m.ID, err)
		}
	case SourceTarball:
		if err := fetchAndUnpack(ctx, opts, m.Source.URL, m.Source.SHA256, dir, rootfs); err != nil {
			return fmt.Errorf("%s: %w", m.ID, err)
		}
	case SourceImages:
		server := strings.TrimRight(opts.ImageServer, "/")
		if server == "" {
			server = DefaultImageServer
		}
		e, err := FindImage(ctx, opts.HTTPClient, server, m.Source.Dist, m.Source.Release, arch, m.Source.Variant)
		if err != nil {
			return fmt.Errorf("%s: %w", m.ID, err)
		}
		url := server + e.Path + "rootfs.tar.xz"
		want := imageChecksum(ctx, opts.HTTPClient, server+e.Path+"SHA256SUMS")
		if want == "" {
			opts.logf("%s: %s publishes no SHA256SUMS for %s; relying on TLS", m.ID, server, e.Path)
		}
		opts.logf("%s: image %s %s %s %s (%s)", m.ID, e.Dist, e.Release, e.Arch, e.Variant, e.Timestamp)
		if err := fetchAndUnpack(ctx, opts, url, want, dir, rootfs); err != nil {
			return fmt.Errorf("%s: %w", m.ID, err)
		}
	}
	if m.Source.Type != SourceBusybox && opts.ResolvConf != "-" {
		rc := opts.ResolvConf
		if rc == "" {
			rc = "/etc/resolv.conf"
		}
		if data, err := os.ReadFile(rc); err == nil {
			if err := WriteFile(rootfs, "/etc/resolv.conf", data, 0o644); err != nil {
				return fmt.Errorf("%s: /etc/resolv.conf: %w", m.ID, err)
			}
		}
	}
	for p, content := range m.Files {
		mode := os.FileMode(0o644)
		if strings.HasPrefix(content, "#!") {
			mode = 0o755
		}
		if err := WriteFile(rootfs, p, []byte(content), mode); err != nil {
			return fmt.Errorf("%s: files %s: %w", m.ID, p, err)
		}
	}
	return nil
}

// WriteFile writes data at the absolute path p inside rootfs, creating
// parents, and never through a symbolic link: a link at p is replaced,
// a link among the parents is refused.
func WriteFile(rootfs, p string, data []byte, mode os.FileMode) error {
	if err := checkRootPath(p); err != nil {
		return fmt.Errorf("%q: %w", p, err)
	}
	rel := strings.TrimPrefix(p, "/")
	if err := makeParents(rootfs, rel); err != nil {
		return err
	}
	target := filepath.Join(rootfs, filepath.FromSlash(rel))
	if err := clearTarget(target); err != nil {
		return err
	}
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, mode)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Chmod(target, mode)
}

// fetchAndUnpack downloads url into a file in dir, checks its sha256 when
// one is given, and only then unpacks it into rootfs.
func fetchAndUnpack(ctx context.Context, opts PrepareOptions, url, wantSHA, dir, rootfs string) error {
	tmp := filepath.Join(dir, ".download")
	got, err := Download(ctx, opts.HTTPClient, url, tmp)
	if err != nil {
		os.Remove(tmp)
		return err
	}
	defer os.Remove(tmp)
	if wantSHA != "" && got != wantSHA {
		return fmt.Errorf("%s: %w: got %s, want %s", url, ErrChecksum, got, wantSHA)
	}
	f, err := os.Open(tmp)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := Decompress(f)
	if err != nil {
		return fmt.Errorf("%s: %w", url, err)
	}
	st, err := Untar(r, rootfs)
	if err != nil {
		return fmt.Errorf("unpacking %s: %w", url, err)
	}
	opts.logf("unpacked %s: %d files, %d dirs, %d symlinks, %d hard links, %d device nodes skipped", url, st.Files, st.Dirs, st.Symlinks, st.Hardlinks, st.Skipped)
	return nil
}

// Download writes the body of url to the new file dst and returns its
// sha256 (hex).
func Download(ctx context.Context, client *http.Client, url, dst string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrDownload, url, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrDownload, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%w: %s: HTTP %s", ErrDownload, url, resp.Status)
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, h), resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		// A read error is the network's, a write error the disk's; both
		// messages name what failed (e.g. "no space left on device").
		return "", fmt.Errorf("%w: %s: %v", ErrDownload, url, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// imageChecksum reads the sha256 of rootfs.tar.xz from a SHA256SUMS file
// next to it, if the server has one.
func imageChecksum(ctx context.Context, client *http.Client, url string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return ""
	}
	resp, err := client.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 1<<20))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && strings.TrimPrefix(f[1], "*") == "rootfs.tar.xz" && sha256Re.MatchString(f[0]) {
			return f[0]
		}
	}
	return ""
}

// IndexEntry is one line of an LXC image server's index-system.
type IndexEntry struct {
	Dist, Release, Arch, Variant, Timestamp, Path string
}

// ParseIndex reads meta/1.0/index-system: lines
// `dist;release;arch;variant;timestamp;path`. Malformed lines are errors
// naming the line.
func ParseIndex(r io.Reader) ([]IndexEntry, error) {
	var out []IndexEntry
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64<<10)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ";")
		if len(f) != 6 {
			return nil, fmt.Errorf("index-system:%d: %d fields, want 6 (dist;release;arch;variant;timestamp;path)", n, len(f))
		}
		for i, v := range f {
			if v == "" {
				return nil, fmt.Errorf("index-system:%d: field %d is empty", n, i+1)
			}
		}
		p := f[5]
		if !strings.HasPrefix(p, "/") || strings.Contains(p, "..") || strings.ContainsAny(p, " \t?#") {
			return nil, fmt.Errorf("index-system:%d: %q is not an image path", n, p)
		}
		if !strings.HasSuffix(p, "/") {
			p += "/"
		}
		out = append(out, IndexEntry{f[0], f[1], f[2], f[3], f[4], p})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("index-system:%d: %w", n+1, err)
	}
	return out, nil
}

// SelectImage picks the newest build of dist/release/arch/variant.
// Release "latest" means the highest numbered release (e.g. 3.22 over
// 3.9; "edge" and other names are never "latest").
func SelectImage(entries []IndexEntry, dist, release, arch, variant string) (IndexEntry, error) {
	if variant == "" {
		variant = "default"
	}
	var best IndexEntry
	found := false
	for _, e := range entries {
		if e.Dist != dist || e.Arch != arch || e.Variant != variant {
			continue
		}
		if release == "latest" {
			if _, ok := releaseNumber(e.Release); !ok {
				continue
			}
		} else if e.Release != release {
			continue
		}
		if !found || newer(e, best) {
			best, found = e, true
		}
	}
	if !found {
		return IndexEntry{}, fmt.Errorf("%w: %s %s %s %s in the index", ErrNoImage, dist, release, arch, variant)
	}
	return best, nil
}

func newer(a, b IndexEntry) bool {
	if a.Release != b.Release {
		na, _ := releaseNumber(a.Release)
		nb, _ := releaseNumber(b.Release)
		for i := 0; i < len(na) || i < len(nb); i++ {
			var x, y int
			if i < len(na) {
				x = na[i]
			}
			if i < len(nb) {
				y = nb[i]
			}
			if x != y {
				return x > y
			}
		}
	}
	return a.Timestamp > b.Timestamp
}

func releaseNumber(s string) ([]int, bool) {
	var out []int
	for _, p := range strings.Split(s, ".") {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, false
		}
		out = append(out, n)
	}
	return out, true
}

// FindImage fetches the server's index and selects an image.
func FindImage(ctx context.Context, client *http.Client, server, dist, release, arch, variant string) (IndexEntry, error) {
	url := server + "/meta/1.0/index-system"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return IndexEntry{}, fmt.Errorf("%w: %s: %v", ErrDownload, url, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return IndexEntry{}, fmt.Errorf("%w: %v", ErrDownload, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return IndexEntry{}, fmt.Errorf("%w: %s: HTTP %s", ErrDownload, url, resp.Status)
	}
	entries, err := ParseIndex(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return IndexEntry{}, fmt.Errorf("%s: %w", url, err)
	}
	e, err := SelectImage(entries, dist, release, arch, variant)
	if err != nil {
		return IndexEntry{}, fmt.Errorf("%s: %w", server, err)
	}
	return e, nil
}

// HostArch is the image-server name of the architecture this binary was
// built for, which on a router is the router's.
func HostArch() string {
	goarm := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "GOARM" {
				goarm = s.Value
			}
		}
	}
	return ImageArch(runtime.GOARCH, goarm)
}

// ImageArch maps GOARCH (and GOARM) to the image servers' names.
func ImageArch(goarch, goarm string) string {
	switch goarch {
	case "386":
		return "i386"
	case "arm":
		if strings.HasPrefix(goarm, "5") || strings.HasPrefix(goarm, "6") {
			return "armel"
		}
		return "armhf"
	case "mipsle":
		return "mipsel"
	case "mips64le":
		return "mips64el"
	case "ppc64le":
		return "ppc64el"
	}
	return goarch // amd64, arm64, mips, mips64, riscv64, s390x
}

// OpenWrtArch maps an OpenWrt package architecture (as in opkg's
// `arch` lines, e.g. aarch64_cortex-a53) to the image servers' names.
func OpenWrtArch(a string) string {
	switch {
	case a == "x86_64":
		return "amd64"
	case strings.HasPrefix(a, "i386"):
		return "i386"
	case strings.HasPrefix(a, "aarch64"):
		return "arm64"
	case strings.HasPrefix(a, "arm_"):
		if strings.Contains(a, "vfp") || strings.Contains(a, "neon") {
			return "armhf"
		}
		return "armel"
	case strings.HasPrefix(a, "mipsel"):
		return "mipsel"
	case strings.HasPrefix(a, "mips64el"):
		return "mips64el"
	case strings.HasPrefix(a, "mips64"):
		return "mips64"
	case strings.HasPrefix(a, "mips"):
		return "mips"
	case strings.HasPrefix(a, "riscv64"):
		return "riscv64"
	}
	return ""
}
