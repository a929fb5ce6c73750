package runtime

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestBuildConfigGolden(t *testing.T) {
	tests := []struct {
		file  string
		spec  Spec
		cg    int
		shell bool
	}{
		{"host-v1.conf", Spec{Name: "web", Init: []string{"/bin/httpd", "-f", "-p", "8080"}, MemoryMiB: 64, CPUWeight: 100}, 1, true},
		{"host-v2.conf", Spec{Name: "web", Init: []string{"/bin/httpd", "-f", "-p", "8080"}, MemoryMiB: 64, CPUWeight: 100}, 2, true},
		{"bridge-v2.conf", Spec{
			Name: "mqtt", Hostname: "broker", Env: []string{"TZ=UTC", "GREETING=a b # c; d"},
			Network:   Network{Mode: NetworkBridge, Bridge: "br-lan", Address: "192.168.1.50/24", Gateway: "192.168.1.1"},
			Mounts:    []Mount{{Source: "/srv/data", Target: "/data"}, {Source: "/etc/TZ", Target: "/etc/TZ", ReadOnly: true, File: true}},
			CPUWeight: 50,
			Config:    [][2]string{{"lxc.start.auto", "0"}},
		}, 2, true},
		{"none-noshell-v1.conf", Spec{Name: "job", Init: []string{"/sbin/app", "--quiet"}, Network: Network{Mode: NetworkNone}}, 1, false},
		{"own-init-v1.conf", Spec{Name: "alpine", Network: Network{Mode: NetworkBridge, Bridge: "br-lan", Hwaddr: "02:00:00:00:00:01"}}, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			c, err := BuildConfig(tt.spec, "/srv/lxc/"+tt.spec.Name, tt.cg, tt.shell)
			if err != nil {
				t.Fatal(err)
			}
			got := c.Bytes()
			golden := filepath.Join("testdata", tt.file)
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("config differs from %s:\n%s", golden, got)
			}
			// What ini wrote, ini reads back the same.
			back, err := ParseConfig(golden, got)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range c.Keys() {
				if !reflect.DeepEqual(back.Values(k), c.Values(k)) {
					t.Errorf("%s: read back %q, wrote %q", k, back.Values(k), c.Values(k))
				}
			}
		})
	}
}

func TestBuildConfigParts(t *testing.T) {
	c, err := BuildConfig(Spec{Name: "web", Init: []string{"/bin/httpd"}, MemoryMiB: 64, CPUWeight: 200}, "/srv/lxc/web", 1, true)
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string]string{
		"lxc.uts.name":                     "web",
		"lxc.rootfs.path":                  "dir:/srv/lxc/web/rootfs",
		"lxc.init.cmd":                     "/.nuvol-init",
		"lxc.signal.halt":                  "SIGTERM",
		"lxc.net.0.type":                   "none",
		"lxc.cgroup.memory.limit_in_bytes": "67108864",
		"lxc.cgroup.cpu.shares":            "2048",
		"lxc.console.logfile":              "/srv/lxc/web/console.log",
		"lxc.autodev":                      "1",
	}
	for k, want := range checks {
		if got := c.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if caps := c.Values("lxc.cap.drop"); !contains(caps, "net_admin") || !contains(caps, "sys_module") {
		t.Errorf("host mode drops %q; want net_admin and sys_module among them", caps)
	}
	b, err := BuildConfig(Spec{Name: "web", Network: Network{Mode: NetworkBridge, Bridge: "br-lan"}}, "/srv/lxc/web", 2, true)
	if err != nil {
		t.Fatal(err)
	}
	if contains(b.Values("lxc.cap.drop"), "net_admin") {
		t.Error("bridge mode drops net_admin: the container's own network needs it")
	}
	if b.Get("lxc.net.0.hwaddr") != nameMAC("web") || nameMAC("web") == nameMAC("web2") {
		t.Errorf("hwaddr %q", b.Get("lxc.net.0.hwaddr"))
	}
	if b.Get("lxc.cgroup2.devices.deny") != "a" || b.Get("lxc.cgroup.devices.deny") != "" {
		t.Error("cgroup v2 host gets v1 keys")
	}
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func TestBuildConfigRefuses(t *testing.T) {
	tests := []struct {
		spec Spec
		home string
		want string
	}{
		{Spec{Name: ""}, "/srv/lxc/x", "container name"},
		{Spec{Name: "a/b"}, "/srv/lxc/x", "not allowed"},
		{Spec{Name: "-a"}, "/srv/lxc/x", "not allowed"},
		{Spec{Name: strings.Repeat("a", 65)}, "/srv/lxc/x", "1-64"},
		{Spec{Name: "a"}, "relative/a", "absolute"},
		{Spec{Name: "a"}, "/my lxc/a", "absolute"},
		{Spec{Name: "a", Network: Network{Mode: "macvlan"}}, "/srv/lxc/a", `network mode "macvlan"`},
		{Spec{Name: "a", Network: Network{Mode: NetworkBridge, Bridge: "a-very-long-bridge-name"}}, "/srv/lxc/a", "not an interface name"},
		{Spec{Name: "a", Network: Network{Mode: NetworkBridge, Bridge: "br", Address: "10.0.0.300/24"}}, "/srv/lxc/a", "address/prefix"},
		{Spec{Name: "a", Network: Network{Mode: NetworkBridge, Bridge: "br", Gateway: "x"}}, "/srv/lxc/a", "gateway"},
		{Spec{Name: "a", Network: Network{Mode: NetworkBridge, Bridge: "br", Hwaddr: "zz"}}, "/srv/lxc/a", "hwaddr"},
		{Spec{Name: "a"}, "/srv/lxc/a", "host network needs an Init"},
		{Spec{Name: "a", MemoryMiB: -5}, "/srv/lxc/a", "negative"},
		{Spec{Name: "a", CPUWeight: 10001}, "/srv/lxc/a", "1-10000"},
		{Spec{Name: "a", Env: []string{"=x"}}, "/srv/lxc/a", "KEY=VALUE"},
		{Spec{Name: "a", Env: []string{"A=line\nbreak"}}, "/srv/lxc/a", "bad value"},
		{Spec{Name: "a", Mounts: []Mount{{Source: "data", Target: "/data"}}}, "/srv/lxc/a", "absolute"},
		{Spec{Name: "a", Config: [][2]string{{"foo", "1"}}}, "/srv/lxc/a", "does not start with lxc."},
		{Spec{Name: "a", Config: [][2]string{{"lxc.x", " padded"}}}, "/srv/lxc/a", "bad value"},
	}
	for _, tt := range tests {
		if tt.spec.Init == nil && !strings.Contains(tt.want, "needs an Init") {
			tt.spec.Init = []string{"/app"}
		}
		_, err := BuildConfig(tt.spec, tt.home, 1, true)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("BuildConfig(%+v) = %v, want an error with %q", tt.spec, err, tt.want)
		}
	}
	// Without /bin/sh, Init becomes lxc.init.cmd, which LXC splits at spaces.
	_, err := BuildConfig(Spec{Name: "a", Init: []string{"/app", "two words"}}, "/srv/lxc/a", 1, false)
	if err == nil || !strings.Contains(err.Error(), "without /bin/sh") {
		t.Errorf("init with spaces and no shell: %v", err)
	}
}

// An LXC config as lxc-create and people write them.
const sampleConfig = `# Template used to create this container: /usr/share/lxc/templates/lxc-download
lxc.include = /usr/share/lxc/config/common.conf

  lxc.arch = linux64
lxc.rootfs.path = dir:/srv/lxc/c1/rootfs
lxc.uts.name=c1
lxc.cap.drop = sys_module
lxc.cap.drop = mac_admin mac_override
lxc.cap.drop = sys_module
lxc.mount.entry = /srv/share srv/share none bind,create=dir 0 0
lxc.environment = MOTD="hello; # world"
lxc.init.cmd = /bin/sh -c "echo hi"
lxc.net.0.ipv4.address = 10.0.0.2/24 10.0.0.255
lxc.hook.pre-start = /bin/echo a\
lxc.signal.halt = SIGTERM
`

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig("c1/config", []byte(sampleConfig))
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string][]string{
		"lxc.include":            {"/usr/share/lxc/config/common.conf"},
		"lxc.arch":               {"linux64"},
		"lxc.uts.name":           {"c1"},
		"lxc.cap.drop":           {"sys_module", "mac_admin mac_override", "sys_module"},
		"lxc.mount.entry":        {"/srv/share srv/share none bind,create=dir 0 0"},
		"lxc.environment":        {`MOTD="hello; # world"`},
		"lxc.init.cmd":           {`/bin/sh -c "echo hi"`},
		"lxc.net.0.ipv4.address": {"10.0.0.2/24 10.0.0.255"},
		"lxc.hook.pre-start":     {`/bin/echo a\`},
		"lxc.signal.halt":        {"SIGTERM"},
	}
	for k, want := range tests {
		if got := c.Values(k); !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if c.Get("lxc.cap.drop") != "sys_module" || c.Get("lxc.nothing") != "" {
		t.Error("Get does not return the last value")
	}
	if _, err := ParseConfig("bad", []byte("lxc.a = 1\n[section]\n")); err == nil || !strings.Contains(err.Error(), "bad:2:") {
		t.Errorf("section header: %v", err)
	}
}

func TestLoadConfigMissing(t *testing.T) {
	if _, err := LoadConfig(filepath.Join(t.TempDir(), "config")); !os.IsNotExist(err) {
		t.Errorf("missing config: %v", err)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(sampleConfig))
	f.Add([]byte("lxc.a = `x`\nlxc.b = \"\"\"y\"\"\"\n"))
	f.Add([]byte("=\n==\n\x00\n;c\n#d\nkey\n"))
	c, _ := BuildConfig(Spec{Name: "web", Network: Network{Mode: NetworkBridge, Bridge: "br-lan"}}, "/srv/lxc/web", 2, true)
	f.Add(c.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig("fuzz", data)
		if err != nil {
			return
		}
		// Lines nuvol itself could write come back unchanged.
		clean := NewConfig()
		for _, k := range c.Keys() {
			for _, v := range c.Values(k) {
				if clean.Add(k, v) != nil {
					continue
				}
			}
		}
		back, err := ParseConfig("rewritten", clean.Bytes())
		if err != nil {
			t.Fatalf("rewritten config does not parse: %v\n%s", err, clean.Bytes())
		}
		for _, k := range clean.Keys() {
			if !reflect.DeepEqual(back.Values(k), clean.Values(k)) {
				t.Fatalf("%s: %q became %q", k, clean.Values(k), back.Values(k))
			}
		}
	})
}

func TestInitScript(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	argv := []string{"printf", "[%s]", "it's", "two  spaces", "$HOME", "`id`", `"q"`, ""}
	script := filepath.Join(t.TempDir(), "init")
	if err := os.WriteFile(script, []byte(initScript(argv, "")), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sh, script).Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := "[it's][two  spaces][$HOME][`id`][\"q\"][]"; string(out) != want {
		t.Errorf("init ran %q, want %q", out, want)
	}
	// The init exits with the app's status.
	if err := os.WriteFile(script, []byte(initScript([]string{"sh", "-c", "exit 7"}, "")), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := exec.Command(sh, script).Run(); exitCodeOf(err) != 7 {
		t.Errorf("init exit: %v, want status 7", err)
	}
}

func exitCodeOf(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

func TestLXCState(t *testing.T) {
	for in, want := range map[string]State{
		"STOPPED": StateStopped, "STARTING": StateStarting, "RUNNING": StateRunning,
		"STOPPING": StateStopping, "ABORTING": StateStopping, "FREEZING": StateFrozen,
		"FROZEN": StateFrozen, "THAWED": StateRunning, " running\n": StateRunning,
	} {
		if got, err := lxcState(in); err != nil || got != want {
			t.Errorf("lxcState(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := lxcState("DANCING"); err == nil {
		t.Error("unknown state accepted")
	}
}

func TestWeightToShares(t *testing.T) {
	for w, want := range map[int]int{1: 10, 100: 1024, 50: 512, 10000: 102400} {
		if got := weightToShares(w); got != want {
			t.Errorf("weightToShares(%d) = %d, want %d", w, got, want)
		}
	}
}

func TestSplitLines(t *testing.T) {
	tests := map[string][]string{
		"":                  nil,
		"a\r\nb\r\n":        {"a", "b"},
		"a\nb":              {"a", "b"},
		"started\r\n\r\nx":  {"started", "", "x"},
		"no newline at end": {"no newline at end"},
	}
	for in, want := range tests {
		if got := splitLines([]byte(in)); !reflect.DeepEqual(got, want) {
			t.Errorf("splitLines(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLogTail(t *testing.T) {
	b := base{path: t.TempDir()}
	home := b.home("c")
	os.MkdirAll(home, 0o755)
	os.WriteFile(filepath.Join(home, "config"), []byte("lxc.uts.name = c\n"), 0o644)
	if l, err := b.log("c", 5); err != nil || len(l) != 0 {
		t.Errorf("no log yet: %q, %v", l, err)
	}
	os.WriteFile(filepath.Join(home, consoleLogName+".1"), []byte("1\r\n2\r\n"), 0o644)
	os.WriteFile(filepath.Join(home, consoleLogName), []byte("3\r\n4\r\n"), 0o644)
	if l, _ := b.log("c", 3); !reflect.DeepEqual(l, []string{"2", "3", "4"}) {
		t.Errorf("log(3) = %q", l)
	}
	if l, _ := b.log("c", 0); len(l) != 4 {
		t.Errorf("log(0) = %q", l)
	}
}

func TestCgroupFiles(t *testing.T) {
	procCgroup := []byte("9:name=systemd:/\n4:memory:/lxc.payload.web\n2:cpu,cpuacct:/lxc.payload.web\n0::/lxc.payload.web\n")
	m := parseProcCgroup(procCgroup)
	if m["memory"] != "/lxc.payload.web" || m["cpuacct"] != "/lxc.payload.web" || m[""] != "/lxc.payload.web" || m["name=systemd"] != "/" {
		t.Errorf("parseProcCgroup = %v", m)
	}
	mountinfo := []byte(`31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
40 31 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
41 31 0:32 /sub /mnt/memsub rw,relatime - cgroup cgroup rw,memory
`)
	got := placement(procCgroup, mountinfo)
	want := cgroupPlacement{
		"/sys/fs/cgroup/cpu,cpuacct/lxc.payload.web/cgroup.procs",
		"/sys/fs/cgroup/memory/lxc.payload.web/cgroup.procs",
		"/sys/fs/cgroup/systemd/cgroup.procs",
		"/sys/fs/cgroup/unified/lxc.payload.web/cgroup.procs",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("placement = %q\nwant %q", got, want)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "cpu.stat"), []byte("usage_usec 1500\nuser_usec 1000\n"), 0o644)
	if n, err := statField(filepath.Join(dir, "cpu.stat"), "usage_usec"); err != nil || n != 1500 {
		t.Errorf("statField = %d, %v", n, err)
	}
	if _, err := statField(filepath.Join(dir, "cpu.stat"), "nope"); err == nil {
		t.Error("missing field found")
	}
}

func TestStopSteps(t *testing.T) {
	tests := map[time.Duration][]int{0: nil, -1: nil, time.Millisecond: {1}, time.Second: {1}, 1500 * time.Millisecond: {1, 1}, 10 * time.Second: {1, 9}}
	for in, want := range tests {
		if got := stopSteps(in); !reflect.DeepEqual(got, want) {
			t.Errorf("stopSteps(%v) = %v, want %v", in, got, want)
		}
	}
}

func TestCatches(t *testing.T) {
	status := []byte("Name:\tsh\nSigIgn:\t0000000000000004\nSigCgt:\t0000000000004002\n")
	if !catches(status, syscall.SIGTERM) || !catches(status, syscall.SIGINT) || catches(status, syscall.SIGHUP) {
		t.Error("catches misreads SigCgt")
	}
	if catches([]byte("Name:\tsh\n"), syscall.SIGTERM) {
		t.Error("catches without SigCgt")
	}
}

func TestLogMessage(t *testing.T) {
	tests := map[string]string{
		`lxc-start web 20261126222607.443 ERROR    network - ../src/lxc/network.c:lxc_ovs_attach_bridge:2201 - No such device - Failed to attach "veth1" to bridge "br9"`: `No such device - Failed to attach "veth1" to bridge "br9"`,
		"plain text": "plain text",
	}
	for in, want := range tests {
		if got := logMessage(in); got != want {
			t.Errorf("logMessage(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCgroupUsageAt(t *testing.T) {
	write := func(root, rel, body string) {
		p := filepath.Join(root, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// OpenWrt 21.02+: one cgroup2 hierarchy.
	v2 := t.TempDir()
	write(v2, "lxc.payload.web/memory.current", "4096\n")
	write(v2, "lxc.payload.web/cpu.stat", "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n")
	mem, cpu, err := cgroupUsageAt(v2, 2, []byte("0::/lxc.payload.web\n"))
	if err != nil || mem != 4096 || cpu != 2500*time.Microsecond {
		t.Errorf("v2: %d, %v, %v", mem, cpu, err)
	}
	// cgroup v1 with cpu and cpuacct mounted together.
	v1 := t.TempDir()
	write(v1, "memory/lxc.payload.web/memory.usage_in_bytes", "8192\n")
	write(v1, "cpu,cpuacct/lxc.payload.web/cpuacct.usage", "3000000\n")
	mem, cpu, err = cgroupUsageAt(v1, 1, []byte("4:memory:/lxc.payload.web\n2:cpu,cpuacct:/lxc.payload.web\n0::/\n"))
	if err != nil || mem != 8192 || cpu != 3*time.Millisecond {
		t.Errorf("v1: %d, %v, %v", mem, cpu, err)
	}
	for _, bad := range []struct {
		version int
		proc    string
	}{{2, "4:memory:/x\n"}, {1, "0::/x\n"}, {1, "4:memory:/lxc.payload.web\n"}, {2, "0::/nothing-here\n"}} {
		if _, _, err := cgroupUsageAt(v1, bad.version, []byte(bad.proc)); err == nil {
			t.Errorf("v%d %q: no error", bad.version, bad.proc)
		}
	}
}

func TestStartLogRotates(t *testing.T) {
	home := t.TempDir()
	path := filepath.Join(home, lxcLogName)
	if at := startLog(home); at != 0 {
		t.Errorf("no log: at %d", at)
	}
	os.WriteFile(path, []byte("small\n"), 0o644)
	if at := startLog(home); at != 6 {
		t.Errorf("small log: at %d, want 6", at)
	}
	os.WriteFile(path, bytes.Repeat([]byte("x"), maxLXCLog+1), 0o644)
	if at := startLog(home); at != 0 {
		t.Errorf("big log: at %d, want 0", at)
	}
	if _, err := os.Stat(path + ".1"); err != nil {
		t.Errorf("not rotated: %v", err)
	}
}

func TestInitScriptDHCPOnlyOnRequest(t *testing.T) {
	if s := initScript([]string{"/bin/httpd"}, ""); strings.Contains(s, "udhcpc") {
		t.Errorf("init without dhcp runs udhcpc:\n%s", s)
	}
	if s := initScript([]string{"/bin/httpd"}, "web"); !strings.Contains(s, "udhcpc -f -i eth0 -s /.nuvol-dhcp -x hostname:'web' &") {
		t.Errorf("init with dhcp:\n%s", s)
	}
}

// TestCreateHostModeNeverDHCP checks the files Create writes: a host-mode
// container's init must not configure the network, whatever else is set.
func TestCreateHostModeNeverDHCP(t *testing.T) {
	for _, n := range []Network{{}, {Mode: NetworkHost}, {Mode: NetworkNone}, {Mode: NetworkBridge, Bridge: "br-lan", Address: "10.0.0.2/24"}} {
		b := base{path: t.TempDir()}
		dir := filepath.Join(b.path, "web")
		os.MkdirAll(filepath.Join(dir, "rootfs", "bin"), 0o755)
		os.Symlink("busybox", filepath.Join(dir, "rootfs", "bin", "sh"))
		if err := b.create(dir, Spec{Name: "web", Init: []string{"/bin/httpd"}, Network: n}); err != nil {
			t.Fatal(err)
		}
		init, _ := os.ReadFile(filepath.Join(dir, "rootfs", initName))
		if strings.Contains(string(init), "udhcpc") {
			t.Errorf("%+v: init runs udhcpc", n)
		}
		if _, err := os.Stat(filepath.Join(dir, "rootfs", dhcpScriptName)); err == nil {
			t.Errorf("%+v: dhcp script written", n)
		}
	}
	b := base{path: t.TempDir()}
	dir := filepath.Join(b.path, "web")
	os.MkdirAll(filepath.Join(dir, "rootfs", "bin"), 0o755)
	os.Symlink("busybox", filepath.Join(dir, "rootfs", "bin", "sh"))
	if err := b.create(dir, Spec{Name: "web", Hostname: "board", Init: []string{"/bin/httpd"}, Network: Network{Mode: NetworkBridge, Bridge: "br-lan"}}); err != nil {
		t.Fatal(err)
	}
	if init, _ := os.ReadFile(filepath.Join(dir, "rootfs", initName)); !strings.Contains(string(init), "hostname:'board'") {
		t.Errorf("bridge mode init without dhcp:\n%s", init)
	}
}
