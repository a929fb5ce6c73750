package runtime

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gopkg.in/ini.v1"
)

// Config is an LXC container config: "key = value" lines with no sections,
// in which keys may repeat (lxc.cap.drop, lxc.mount.entry, ...). It is read
// and written with gopkg.in/ini.v1; the options below make ini keep repeated
// keys, never unquote, never join continuation lines and never cut a value
// at '#' or ';', which is how LXC itself reads the file.
type Config struct {
	f *ini.File
}

func iniOptions() ini.LoadOptions {
	return ini.LoadOptions{
		AllowShadows:               true,
		AllowDuplicateShadowValues: true,
		IgnoreContinuation:         true,
		IgnoreInlineComment:        true,
		PreserveSurroundedQuote:    true,
		KeyValueDelimiters:         "=",
		KeyValueDelimiterOnWrite:   "=",
	}
}

// NewConfig returns an empty config.
func NewConfig() *Config {
	return &Config{f: ini.Empty(iniOptions())}
}

// ParseConfig reads an LXC config. name is used in errors.
func ParseConfig(name string, data []byte) (*Config, error) {
	// Section headers are not LXC syntax; refusing them keeps every key in
	// the one default section, where Get looks.
	for i, line := range bytes.Split(data, []byte("\n")) {
		t := bytes.TrimSpace(line)
		if len(t) > 0 && t[0] == '[' {
			return nil, fmt.Errorf("%s:%d: %q is not an LXC config line", name, i+1, t)
		}
	}
	f, err := ini.LoadSources(iniOptions(), data)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	return &Config{f: f}, nil
}

// LoadConfig reads the LXC config file at path.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseConfig(path, data)
}

func (c *Config) sec() *ini.Section { return c.f.Section(ini.DefaultSection) }

// Add appends value to key (keys repeat).
func (c *Config) Add(key, value string) error {
	if err := checkLine(key, value); err != nil {
		return err
	}
	s := c.sec()
	if s.HasKey(key) {
		return s.Key(key).AddShadow(value)
	}
	_, err := s.NewKey(key, value)
	return err
}

// checkLine refuses what LXC could not read back as the same line, and what
// ini would quote on write.
func checkLine(key, value string) error {
	if !validKey(key) {
		return fmt.Errorf("lxc config: bad key %q", key)
	}
	if strings.ContainsAny(value, "\n\r`\x00") || strings.TrimSpace(value) != value || strings.HasPrefix(value, `"""`) {
		return fmt.Errorf("lxc config: %s: bad value %q", key, value)
	}
	return nil
}

// validKey accepts LXC's key syntax: "lxc.net.0.ipv4.address".
func validKey(k string) bool {
	if k == "" || k[0] == '-' || k[0] == '.' {
		return false
	}
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// Values returns every value of key, in file order.
func (c *Config) Values(key string) []string {
	s := c.sec()
	if !s.HasKey(key) {
		return nil
	}
	return s.Key(key).ValueWithShadows()
}

// Get returns the last value of key (LXC lets a later line win), or "".
func (c *Config) Get(key string) string {
	v := c.Values(key)
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// Keys returns the keys in the order they first appear.
func (c *Config) Keys() []string { return c.sec().KeyStrings() }

// Bytes returns the config as LXC reads it.
func (c *Config) Bytes() []byte {
	var b bytes.Buffer
	c.f.WriteTo(&b) // writes to a bytes.Buffer do not fail
	return b.Bytes()
}

// Files nuvol keeps in a container's directory besides config and rootfs.
const (
	consoleLogName = "console.log"
	lxcLogName     = "lxc.log"
	// initName is the init nuvol writes into the rootfs to run Spec.Init.
	initName = ".nuvol-init"
)

// Capabilities dropped from every container: none of them is needed by an
// app, and each lets root in a container reach the host.
var dropCaps = []string{"mac_admin", "mac_override", "sys_module", "sys_rawio", "sys_time", "sys_boot", "wake_alarm"}

// hostDropCaps are dropped as well in host mode, where the container shares
// the router's network namespace: without net_admin nothing inside can
// change the router's addresses, routes or firewall, even by mistake.
var hostDropCaps = []string{"net_admin"}

// The devices an app may use; the rest are denied (LXC's common.conf set).
var allowDevices = []string{
	"c *:* m", "b *:* m",
	"c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm", // null zero full random urandom
	"c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm", // tty console ptmx pts
}

// ValidName reports whether name can be a container name: a directory under
// lxc_path and an LXC name.
func ValidName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("container name %q: want 1-64 characters", name)
	}
	for i, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || (i > 0 && (r == '-' || r == '_' || r == '.'))
		if !ok {
			return fmt.Errorf("container name %q: character %q not allowed", name, r)
		}
	}
	return nil
}

// BuildConfig returns the LXC config for spec. home is the container's
// directory (lxc_path/name) and cgroupVersion the host's (1 or 2); shell
// says whether the rootfs has /bin/sh to run nuvol's init.
func BuildConfig(spec Spec, home string, cgroupVersion int, shell bool) (*Config, error) {
	if err := ValidName(spec.Name); err != nil {
		return nil, err
	}
	if !filepath.IsAbs(home) || strings.ContainsAny(home, " \t\n") {
		return nil, fmt.Errorf("container %s: directory %q must be an absolute path without spaces", spec.Name, home)
	}
	c := NewConfig()
	var err error
	add := func(k, v string) {
		if err == nil {
			err = c.Add(k, v)
		}
	}
	host := spec.Hostname
	if host == "" {
		host = spec.Name
	}
	add("lxc.uts.name", host)
	add("lxc.rootfs.path", "dir:"+filepath.Join(home, "rootfs"))

	hostNet := spec.Network.Mode == "" || spec.Network.Mode == NetworkHost
	switch {
	case len(spec.Init) == 0 && hostNet:
		return nil, fmt.Errorf("container %s: host network needs an Init command: the rootfs's own init would configure the router's network", spec.Name)
	case len(spec.Init) == 0:
		add("lxc.init.cmd", "/sbin/init")
	case shell:
		// The init script passes SIGTERM on to the app.
		add("lxc.init.cmd", "/"+initName)
		add("lxc.signal.halt", "SIGTERM")
	default:
		for _, a := range spec.Init {
			if a == "" || strings.ContainsAny(a, " \t") {
				return nil, fmt.Errorf("container %s: init argument %q: a rootfs without /bin/sh cannot take arguments with spaces", spec.Name, a)
			}
		}
		add("lxc.init.cmd", strings.Join(spec.Init, " "))
	}
	for _, e := range spec.Env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			return nil, fmt.Errorf("container %s: environment %q is not KEY=VALUE", spec.Name, e)
		}
		add("lxc.environment", e)
	}

	n := spec.Network
	switch n.Mode {
	case "", NetworkHost:
		// "none" in LXC means: share the host's network namespace.
		add("lxc.net.0.type", "none")
	case NetworkNone:
		add("lxc.net.0.type", "empty")
	case NetworkBridge:
		if n.Bridge == "" || len(n.Bridge) > 15 || strings.ContainsAny(n.Bridge, " \t/") {
			return nil, fmt.Errorf("container %s: bridge %q is not an interface name", spec.Name, n.Bridge)
		}
		add("lxc.net.0.type", "veth")
		add("lxc.net.0.link", n.Bridge)
		add("lxc.net.0.flags", "up")
		add("lxc.net.0.name", "eth0")
		hw := n.Hwaddr
		if hw == "" {
			hw = nameMAC(spec.Name)
		} else if _, e := net.ParseMAC(hw); e != nil {
			return nil, fmt.Errorf("container %s: hwaddr %q: %v", spec.Name, hw, e)
		}
		add("lxc.net.0.hwaddr", hw)
		if n.Address != "" {
			ip, _, e := net.ParseCIDR(n.Address)
			if e != nil {
				return nil, fmt.Errorf("container %s: address %q is not address/prefix", spec.Name, n.Address)
			}
			if ip.To4() != nil {
				add("lxc.net.0.ipv4.address", n.Address)
			} else {
				add("lxc.net.0.ipv6.address", n.Address)
			}
		}
		if n.Gateway != "" {
			ip := net.ParseIP(n.Gateway)
			switch {
			case ip == nil:
				return nil, fmt.Errorf("container %s: gateway %q is not an IP address", spec.Name, n.Gateway)
			case ip.To4() != nil:
				add("lxc.net.0.ipv4.gateway", n.Gateway)
			default:
				add("lxc.net.0.ipv6.gateway", n.Gateway)
			}
		}
	default:
		return nil, fmt.Errorf("container %s: network mode %q: want host, bridge or none", spec.Name, n.Mode)
	}

	add("lxc.autodev", "1")
	add("lxc.mount.auto", "proc:mixed sys:ro cgroup:mixed")
	for _, m := range spec.Mounts {
		if !filepath.IsAbs(m.Source) || !filepath.IsAbs(m.Target) || strings.ContainsAny(m.Source+m.Target, " \t") {
			return nil, fmt.Errorf("container %s: mount %q -> %q: want absolute paths without spaces", spec.Name, m.Source, m.Target)
		}
		opt := "bind,create=dir"
		if m.File {
			opt = "bind,create=file"
		}
		if m.ReadOnly {
			opt += ",ro"
		}
		add("lxc.mount.entry", fmt.Sprintf("%s %s none %s 0 0", m.Source, strings.TrimPrefix(filepath.Clean(m.Target), "/"), opt))
	}
	for _, cp := range dropCaps {
		add("lxc.cap.drop", cp)
	}
	if hostNet {
		for _, cp := range hostDropCaps {
			add("lxc.cap.drop", cp)
		}
	}
	add("lxc.tty.max", "0")
	add("lxc.pty.max", "16")
	add("lxc.console.logfile", filepath.Join(home, consoleLogName))
	// Keeps the log on a router's small disk bounded: at 1 MB it is
	// rotated to console.log.1.
	add("lxc.console.size", "1MB")
	add("lxc.console.rotate", "1")
	add("lxc.log.file", filepath.Join(home, lxcLogName))
	add("lxc.log.level", "WARN")

	cg := "lxc.cgroup."
	if cgroupVersion == 2 {
		cg = "lxc.cgroup2."
	}
	add(cg+"devices.deny", "a")
	for _, d := range allowDevices {
		add(cg+"devices.allow", d)
	}
	if spec.MemoryMiB < 0 {
		return nil, fmt.Errorf("container %s: memory %d MiB is negative", spec.Name, spec.MemoryMiB)
	}
	if spec.MemoryMiB > 0 {
		b := strconv.FormatInt(int64(spec.MemoryMiB)<<20, 10)
		if cgroupVersion == 2 {
			add("lxc.cgroup2.memory.max", b)
		} else {
			add("lxc.cgroup.memory.limit_in_bytes", b)
		}
	}
	if spec.CPUWeight < 0 || spec.CPUWeight > 10000 {
		return nil, fmt.Errorf("container %s: cpu weight %d: want 1-10000", spec.Name, spec.CPUWeight)
	}
	if spec.CPUWeight > 0 {
		if cgroupVersion == 2 {
			add("lxc.cgroup2.cpu.weight", strconv.Itoa(spec.CPUWeight))
		} else {
			add("lxc.cgroup.cpu.shares", strconv.Itoa(weightToShares(spec.CPUWeight)))
		}
	}
	for _, kv := range spec.Config {
		if !strings.HasPrefix(kv[0], "lxc.") {
			return nil, fmt.Errorf("container %s: config key %q does not start with lxc.", spec.Name, kv[0])
		}
		add(kv[0], kv[1])
	}
	if err != nil {
		return nil, fmt.Errorf("container %s: %v", spec.Name, err)
	}
	c.sec().Key("lxc.uts.name").Comment = "# nuvol container " + spec.Name + ": written by nuvol, do not edit."
	return c, nil
}

// weightToShares maps cgroup v2 cpu.weight (1-10000, default 100) to v1
// cpu.shares (2-262144, default 1024) linearly around the defaults.
func weightToShares(w int) int {
	s := w * 1024 / 100
	if s < 2 {
		s = 2
	}
	return s
}

// nameMAC is a stable, locally administered MAC for a container name.
func nameMAC(name string) string {
	h := fnv.New32a()
	h.Write([]byte(name))
	s := h.Sum32()
	return fmt.Sprintf("02:6e:76:%02x:%02x:%02x", byte(s>>16), byte(s>>8), byte(s))
}

// initScript is the /bin/sh init that runs argv as the app. A plain app
// running as PID 1 of its namespace never gets SIGTERM (the kernel drops
// signals PID 1 has no handler for), so a graceful stop would always end
// in a kill; the script traps the signal and passes it on, and exits with
// the app's status.
//
// dhcpHost, when not empty, makes the init also run busybox's DHCP client
// on eth0 with that host name, beside the app, to keep the lease renewed.
// Only bridge mode asks for it: there eth0 is the container's own veth in
// its own network namespace. A host-mode init must never configure the
// network, and never gets this line.
func initScript(argv []string, dhcpHost string) string {
	var b strings.Builder
	b.WriteString("#!/bin/sh\n# Written by nuvol: runs the app and passes stop signals on to it.\n")
	// A signal that comes before $app is set is remembered in $stop.
	b.WriteString("trap 'echo \"nuvol: stopping the app\"; stop=1; [ -z \"$app\" ] || kill -TERM $app 2>/dev/null' TERM INT HUP\n")
	if dhcpHost != "" {
		fmt.Fprintf(&b, "[ -x /bin/busybox ] && /bin/busybox udhcpc -f -i eth0 -s /%s -x hostname:%s &\n", dhcpScriptName, shellQuote(dhcpHost))
	}
	for i, a := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(shellQuote(a))
	}
	// The first wait gets the status even when the app has already gone;
	// a wait cut short by the trap is repeated while the app lives.
	b.WriteString(" &\napp=$!\n[ -z \"$stop\" ] || kill -TERM $app 2>/dev/null\nwait $app\nst=$?\n")
	b.WriteString("while kill -0 $app 2>/dev/null; do wait $app; st=$?; done\nexit $st\n")
	return b.String()
}

// dhcpScriptName is the script udhcpc runs with each lease (bridge mode).
const dhcpScriptName = ".nuvol-dhcp"

// dhcpScript applies udhcpc's lease to the container's eth0: address,
// default route and resolv.conf. busybox's ip applet is used when it is
// there, ifconfig and route otherwise (OpenWrt's busybox has no ip).
const dhcpScript = `#!/bin/sh
# Written by nuvol: applies the DHCP lease to this container's own eth0
# (bridge mode: the container has its own network namespace).
bb=/bin/busybox
case "$1" in
deconfig)
	$bb ip -4 addr flush dev "$interface" 2>/dev/null || $bb ifconfig "$interface" 0.0.0.0
	;;
bound|renew)
	if $bb ip -4 addr show dev "$interface" >/dev/null 2>&1; then
		if ! $bb ip -4 addr show dev "$interface" | $bb grep -q "inet $ip/"; then
			$bb ip -4 addr flush dev "$interface"
			$bb ip addr add "$ip/${mask:-24}" dev "$interface"
		fi
		for r in $router; do $bb ip route replace default via "$r" dev "$interface"; break; done
	else
		$bb ifconfig "$interface" "$ip" netmask "${subnet:-255.255.255.0}"
		for r in $router; do $bb route add default gw "$r" dev "$interface" 2>/dev/null; break; done
	fi
	if [ -n "$dns" ]; then
		for d in $dns; do echo "nameserver $d"; done > /etc/resolv.conf
	fi
	;;
esac
exit 0
`

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
