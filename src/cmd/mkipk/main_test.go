package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/nuvol-project/nuvol/src/ipk"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var archs = []string{"x86_64", "aarch64_cortex-a53", "arm_cortex-a9_vfpv3-d16", "mipsel_24kc", "mips_24kc"}

// repo is the repository root, two levels above this package.
func repo(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// fixture lays out what `make ipk` reads: fake binaries, the real files/
// tree (with a stand-in config until the UCI part writes the real one) and a
// small luci-app.
func fixture(t *testing.T) (dir string, args []string) {
	t.Helper()
	dir = t.TempDir()
	root := repo(t)
	for _, arch := range archs {
		p := filepath.Join(dir, "bin", arch, "nuvol")
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, []byte("\x7fELF nuvol for "+arch+"\n"), 0o755))
	}
	files := filepath.Join(dir, "files")
	copyFile(t, filepath.Join(root, "files/etc/init.d/nuvol"), filepath.Join(files, "etc/init.d/nuvol"))
	copyFile(t, filepath.Join(root, "files/etc/uci-defaults/nuvol"), filepath.Join(files, "etc/uci-defaults/nuvol"))
	copyFile(t, "testdata/nuvol.config", filepath.Join(files, "etc/config/nuvol"))
	luci := filepath.Join(dir, "luci-app")
	writeTestFile(t, filepath.Join(luci, "htdocs/luci-static/resources/view/nuvol/apps.js"), "'use strict';\n")
	writeTestFile(t, filepath.Join(luci, "root/usr/share/luci/menu.d/luci-app-nuvol.json"), "{}\n")
	writeTestFile(t, filepath.Join(luci, "root/usr/share/rpcd/acl.d/luci-app-nuvol.json"), "{}\n")
	writeTestFile(t, filepath.Join(luci, "tests/run.sh"), "not packaged\n")
	args = []string{"-version", "0.1.0-1", "-out", filepath.Join(dir, "dist"),
		"-bin", filepath.Join(dir, "bin/{arch}/nuvol"), "-files", files, "-luci", luci}
	for _, a := range archs {
		args = append(args, "-arch", a)
	}
	return dir, args
}

func TestBuildAll(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	dir, args := fixture(t)
	var out bytes.Buffer
	if err := run(args, &out); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, a := range archs {
		want = append(want, filepath.Join(dir, "dist", "nuvol_0.1.0-1_"+a+".ipk"))
	}
	want = append(want, filepath.Join(dir, "dist", "luci-app-nuvol_0.1.0-1_all.ipk"))
	if got := strings.Fields(out.String()); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("wrote %v\nwant %v", got, want)
	}
	first := map[string][]byte{}
	for _, p := range want {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		first[p] = b
	}
	// A second run on the same tree writes the same bytes.
	if err := run(args, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	for _, p := range want {
		b, _ := os.ReadFile(p)
		if !bytes.Equal(b, first[p]) {
			t.Errorf("%s: second build differs", filepath.Base(p))
		}
	}

	for _, arch := range archs {
		a := readIpk(t, filepath.Join(dir, "dist", "nuvol_0.1.0-1_"+arch+".ipk"))
		if got := strings.Join(a.Members, " "); got != "./debian-binary ./data.tar.gz ./control.tar.gz" {
			t.Errorf("%s: members %s", arch, got)
		}
		if v, _ := a.Get("Architecture"); v != arch {
			t.Errorf("Architecture %q, want %q", v, arch)
		}
		if strings.Join(a.Conffiles, " ") != "/etc/config/nuvol" {
			t.Errorf("%s: conffiles %q", arch, a.Conffiles)
		}
		for p, mode := range map[string]int64{"/usr/sbin/nuvol": 0o755, "/etc/init.d/nuvol": 0o755,
			"/etc/config/nuvol": 0o644, "/etc/uci-defaults/nuvol": 0o644} {
			e, ok := a.DataFile(p)
			if !ok || e.Mode != mode || e.Type != '0' {
				t.Errorf("%s: %s: present %v mode %o type %c, want %o", arch, p, ok, e.Mode, e.Type, mode)
			}
		}
		if e, _ := a.DataFile("/usr/sbin/nuvol"); !strings.Contains(string(e.Data), arch) {
			t.Errorf("%s: packaged the wrong binary: %q", arch, e.Data)
		}
		for _, s := range []string{"postinst", "prerm"} {
			if e, ok := a.ControlFile(s); !ok || e.Mode&0o111 != 0o111 {
				t.Errorf("%s: %s not executable (mode %o)", arch, s, e.Mode)
			}
		}
	}

	l := readIpk(t, filepath.Join(dir, "dist", "luci-app-nuvol_0.1.0-1_all.ipk"))
	var paths []string
	for _, e := range l.Data {
		if e.Type == '0' {
			paths = append(paths, e.Name)
		}
	}
	sort.Strings(paths)
	wantPaths := "./usr/share/luci/menu.d/luci-app-nuvol.json ./usr/share/rpcd/acl.d/luci-app-nuvol.json ./www/luci-static/resources/view/nuvol/apps.js"
	if strings.Join(paths, " ") != wantPaths {
		t.Errorf("luci data %v\nwant %s", paths, wantPaths)
	}
	if v, _ := l.Get("Depends"); v != "nuvol, luci-base" {
		t.Errorf("luci Depends %q", v)
	}
}

// TestGolden pins the exact control files and member lists. They were
// checked against what OpenWrt's opkg makes of the packages (see
// testdata/opkg-*.golden); rerun with -update after a deliberate change.
func TestGolden(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	dir, args := fixture(t)
	if err := run(args, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ ipk, golden string }{
		{"nuvol_0.1.0-1_mipsel_24kc.ipk", "nuvol_mipsel_24kc.inspect.golden"},
		{"luci-app-nuvol_0.1.0-1_all.ipk", "luci-app-nuvol.inspect.golden"},
	} {
		var out bytes.Buffer
		if err := inspectFile(filepath.Join(dir, "dist", c.ipk), &out); err != nil {
			t.Fatal(err)
		}
		golden(t, c.golden, out.Bytes())
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		must(t, os.WriteFile(p, got, 0o644))
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestErrors(t *testing.T) {
	_, args := fixture(t)
	t.Setenv("SOURCE_DATE_EPOCH", "")
	if err := run(args, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "SOURCE_DATE_EPOCH") {
		t.Errorf("without SOURCE_DATE_EPOCH: %v", err)
	}
	t.Setenv("SOURCE_DATE_EPOCH", "yesterday")
	if err := run(args, &bytes.Buffer{}); err == nil {
		t.Error("bad SOURCE_DATE_EPOCH accepted")
	}
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	if err := run([]string{"-arch", "x86_64"}, &bytes.Buffer{}); err == nil {
		t.Error("missing -version accepted")
	}
	dir, args := fixture(t)
	must(t, os.Remove(filepath.Join(dir, "bin/mips_24kc/nuvol")))
	if err := run(args, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "mips_24kc") {
		t.Errorf("missing binary: %v", err)
	}
	dir, args = fixture(t)
	must(t, os.Remove(filepath.Join(dir, "files/etc/config/nuvol")))
	if err := run(args, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "etc/config/nuvol") {
		t.Errorf("missing config: %v", err)
	}
	dir, args = fixture(t)
	must(t, os.RemoveAll(filepath.Join(dir, "luci-app")))
	if err := run(args, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "-no-luci") {
		t.Errorf("empty luci-app: %v", err)
	}
	if err := run(append(args, "-no-luci"), &bytes.Buffer{}); err != nil {
		t.Errorf("-no-luci: %v", err)
	}
}

// TestDependsMatchRuntime keeps Depends honest: every lxc applet the
// lxc-tools runtime executes must be a dependency, and no applet may be a
// dependency that the runtime does not execute.
func TestDependsMatchRuntime(t *testing.T) {
	srcs, _ := filepath.Glob(filepath.Join(repo(t), "src/runtime/*.go"))
	used := map[string]bool{}
	re := regexp.MustCompile(`"(lxc-[a-z-]+)"`)
	for _, p := range srcs {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = true
		}
	}
	if len(used) == 0 {
		t.Skip("src/runtime executes no lxc applet yet")
	}
	deps := map[string]bool{}
	for _, d := range nuvolDepends {
		deps[d] = true
	}
	for a := range used {
		if !deps[a] {
			t.Errorf("src/runtime runs %s but Depends lacks it", a)
		}
	}
	for d := range deps {
		if strings.HasPrefix(d, "lxc-") && d != "lxc-common" && !used[d] {
			t.Errorf("Depends has %s but src/runtime never runs it", d)
		}
	}
	for _, d := range []string{"lxc-common", "kmod-veth"} {
		if !deps[d] {
			t.Errorf("Depends lacks %s", d)
		}
	}
}

// TestInitScript sources the init script with procd's helpers replaced by
// stubs that print their arguments, and checks what it would hand procd.
func TestInitScript(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	init := filepath.Join(repo(t), "files/etc/init.d/nuvol")
	b, err := os.ReadFile(init)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("#!/bin/sh /etc/rc.common\n")) {
		t.Errorf("init script does not start with the rc.common shebang")
	}
	stubs := `
procd_open_instance() { echo open; }
procd_close_instance() { echo close; }
procd_set_param() { echo "set $*"; }
procd_add_reload_trigger() { echo "trigger $*"; }
procd_send_signal() { echo "signal $*"; }
. "$1"
echo "START=$START STOP=$STOP USE_PROCD=$USE_PROCD"
start_service
service_triggers
reload_service
`
	out, err := exec.Command(sh, "-c", stubs, "sh", init).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	got := regexp.MustCompile(`GOMEMLIMIT=[0-9]+MiB`).ReplaceAllString(string(out), "GOMEMLIMIT=xMiB")
	want := `START=95 STOP=10 USE_PROCD=1
open
set command /usr/sbin/nuvol daemon --confdir /etc/config
set env GOGC=50 GOMEMLIMIT=xMiB
set respawn
set stdout 1
set stderr 1
set reload_signal HUP
set term_timeout 10
close
trigger nuvol
signal nuvol * HUP
`
	if got != want {
		t.Errorf("init script gave\n%s\nwant\n%s", got, want)
	}
	// The heap limit follows the RAM: 1/8, within 16..64 MiB.
	for kb, want := range map[string]string{"60000": "16MiB", "262144": "32MiB", "2097152": "64MiB"} {
		script := `sed() { echo ` + kb + `; }; . "$1"; memlimit`
		out, err := exec.Command(sh, "-c", script, "sh", init).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != want {
			t.Errorf("MemTotal %s kB: %q %v, want %s", kb, out, err, want)
		}
	}
}

func readIpk(t *testing.T, p string) *ipk.Archive {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a, err := ipk.Read(f)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return a
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, to, string(b))
}

func writeTestFile(t *testing.T, p, s string) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(p), 0o755))
	must(t, os.WriteFile(p, []byte(s), 0o644))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestWhatRealOpkgSaw checks the package against what OpenWrt's own opkg
// (opkg-lede, built from its public source) printed for the x86_64 package
// built from these fixtures, installed into an offline root from a local
// feed: `opkg info nuvol`, the status entry it wrote after `opkg install`,
// and `opkg files nuvol`. The outputs are kept in testdata/opkg-*.golden.
func TestWhatRealOpkgSaw(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	dir, args := fixture(t)
	if err := run(args, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	a := readIpk(t, filepath.Join(dir, "dist", "nuvol_0.1.0-1_x86_64.ipk"))

	info := goldenFields(t, "opkg-info-nuvol.golden")
	for _, name := range []string{"Package", "Version", "Section", "Architecture"} {
		if got, _ := a.Get(name); got != info[name] {
			t.Errorf("%s: ours %q, opkg showed %q", name, got, info[name])
		}
	}
	if info["Filename"] != "nuvol_0.1.0-1_x86_64.ipk" {
		t.Errorf("opkg's Filename %q", info["Filename"])
	}
	// opkg folds the description's continuation lines into one.
	if d, _ := a.Get("Description"); strings.ReplaceAll(d, "\n", " ") != info["Description"] {
		t.Errorf("Description: ours %q, opkg showed %q", d, info["Description"])
	}
	// opkg-lede matches field names by prefix, so "SourceName: nuvol" also
	// sets Source, to "ame: nuvol": what it shows for every feed package,
	// since package-pack.mk writes SourceName right after Source. Ours must
	// keep that order to look the same.
	if info["Source"] != "ame: nuvol" {
		t.Errorf("opkg's Source %q", info["Source"])
	}
	var order []string
	for _, f := range a.Control {
		order = append(order, f.Name)
	}
	if got := strings.Join(order, " "); got != "Package Version Depends Source SourceName License Section URL Architecture Installed-Size Description" {
		t.Errorf("field order %s", got)
	}

	// The status entry: opkg keeps each conffile with the sha256 of what the
	// package installed, and compares it on upgrade and removal.
	status := goldenFields(t, "opkg-status-nuvol.golden")
	cf, _ := a.DataFile("/etc/config/nuvol")
	sum := sha256.Sum256(cf.Data)
	if want := "/etc/config/nuvol " + hex.EncodeToString(sum[:]); status["Conffiles"] != want {
		t.Errorf("opkg recorded conffile %q, our package gives %q", status["Conffiles"], want)
	}
	if status["Status"] != "install user installed" {
		t.Errorf("opkg status %q", status["Status"])
	}

	files, err := os.ReadFile("testdata/opkg-files-nuvol.golden")
	if err != nil {
		t.Fatal(err)
	}
	var ours []string
	for _, e := range a.Data {
		if e.Type == '0' {
			ours = append(ours, strings.TrimPrefix(e.Name, "."))
		}
	}
	sort.Strings(ours)
	if got := strings.Join(ours, "\n") + "\n"; got != string(files) {
		t.Errorf("opkg installed\n%s\nour data has\n%s", files, got)
	}
}

func goldenFields(t *testing.T, name string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	fields, err := ipk.ParseControl(string(b))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	m := map[string]string{}
	for _, f := range fields {
		m[f.Name] = strings.TrimSpace(f.Value)
	}
	return m
}

// TestFeedMakefiles keeps the SDK's view of the packages (openwrt/) the
// same as mkipk's: version, license, dependencies, conffiles, Go package.
func TestFeedMakefiles(t *testing.T) {
	root := repo(t)
	top := makeVars(t, filepath.Join(root, "Makefile"))
	feed := makeVars(t, filepath.Join(root, "openwrt/nuvol/Makefile"))
	luci := makeVars(t, filepath.Join(root, "openwrt/luci-app-nuvol/Makefile"))
	for _, v := range []map[string]string{feed, luci} {
		if v["PKG_VERSION"] != top["VERSION"] || v["PKG_RELEASE"] != top["RELEASE"] {
			t.Errorf("feed version %s-%s, Makefile %s-%s", v["PKG_VERSION"], v["PKG_RELEASE"], top["VERSION"], top["RELEASE"])
		}
		if v["PKG_LICENSE"] != license {
			t.Errorf("feed license %q, mkipk %q", v["PKG_LICENSE"], license)
		}
	}
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(mod), "module "+feed["GO_PKG"]+"\n") {
		t.Errorf("GO_PKG %q is not go.mod's module", feed["GO_PKG"])
	}
	pkg := strings.Replace(feed["GO_PKG_BUILD_PKG"], "$(GO_PKG)", feed["GO_PKG"], 1)
	if pkg != feed["GO_PKG"]+"/src/cmd/nuvol" {
		t.Errorf("GO_PKG_BUILD_PKG %q", pkg)
	}
	if feed["GO_PKG_TAGS"] != "liblxc,nethttpomithttp2" || feed["GO_PKG_LDFLAGS_X"] != "main.version=$(PKG_VERSION)-$(PKG_RELEASE)" {
		t.Errorf("GO_PKG_TAGS %q GO_PKG_LDFLAGS_X %q", feed["GO_PKG_TAGS"], feed["GO_PKG_LDFLAGS_X"])
	}
	deps := strings.Fields(feed["DEPENDS"])
	want := append([]string{"$(GO_ARCH_DEPENDS)", "+liblxc"}, prefixed("+", nuvolDepends)...)
	if strings.Join(deps, " ") != strings.Join(want, " ") {
		t.Errorf("feed DEPENDS %v\nwant %v", deps, want)
	}
	if luci["LUCI_DEPENDS"] != "+luci-base +nuvol" || luci["LUCI_PKGARCH"] != "all" {
		t.Errorf("LUCI_DEPENDS %q LUCI_PKGARCH %q", luci["LUCI_DEPENDS"], luci["LUCI_PKGARCH"])
	}
	b, _ := os.ReadFile(filepath.Join(root, "openwrt/nuvol/Makefile"))
	for _, s := range []string{"define Package/nuvol/conffiles\n/etc/config/nuvol\nendef", "golang-package.mk", "$(eval $(call BuildPackage,nuvol))"} {
		if !strings.Contains(string(b), s) {
			t.Errorf("openwrt/nuvol/Makefile lacks %q", s)
		}
	}
}

// makeVars reads NAME:=value and NAME ?= value lines, with backslash
// continuations, including those indented inside define blocks.
func makeVars(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	vars := map[string]string{}
	re := regexp.MustCompile(`(?m)^\s*([A-Z_]+)\s*[:?]?=\s*(.*)$`)
	for _, m := range re.FindAllStringSubmatch(text, -1) {
		vars[m[1]] = strings.Join(strings.Fields(m[2]), " ")
	}
	return vars
}

func prefixed(p string, s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = p + v
	}
	return out
}

// TestUCIDefaults runs the first-install script with a stand-in `uci` that
// answers nuvol.main.lxc_path, as default_postinst would run it.
func TestUCIDefaults(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	dir := t.TempDir()
	lxc := filepath.Join(dir, "storage", "lxc")
	uci := "#!/bin/sh\n[ \"$*\" = \"-q get nuvol.main.lxc_path\" ] && echo " + lxc + "\n"
	must(t, os.WriteFile(filepath.Join(dir, "uci"), []byte(uci), 0o755))
	script := filepath.Join(repo(t), "files/etc/uci-defaults/nuvol")
	// default_postinst: ( [ -f "$i" ] && cd "$(dirname $i)" && . "$i" ) && rm -f "$i"
	cmd := exec.Command(sh, "-c", `( . "$1" )`, "sh", script)
	cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("uci-defaults failed (it would stay for the next boot): %v\n%s", err, out)
	}
	if fi, err := os.Stat(lxc); err != nil || !fi.IsDir() {
		t.Errorf("lxc_path %s not created: %v", lxc, err)
	}
}
