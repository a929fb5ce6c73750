// Package config is nuvol's UCI schema: the typed settings of
// /etc/config/nuvol (one `config nuvol 'main'` section for the node, one
// `config app 'NAME'` section per installed app), their defaults, and
// their validation.
//
// Everything a user can change lives in that file; the daemon reconciles
// the system to it. A file that does not validate is reported, option by
// option, and the daemon keeps running on the last good Config.
package config

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/nuvol-project/nuvol/src/uci"
)

// DefaultPath is where OpenWrt keeps nuvol's configuration.
const DefaultPath = "/etc/config/nuvol"

// Section types and the name of the node's section.
const (
	TypeNode    = "nuvol"
	TypeApp     = "app"
	MainSection = "main"
)

// Network modes of an app.
const (
	NetworkHost   = "host"
	NetworkBridge = "bridge"
)

// DefaultBridge is the bridge a `network 'bridge'` app joins when no
// `bridge` is given: OpenWrt's LAN bridge.
const DefaultBridge = "br-lan"

// Config is the whole of /etc/config/nuvol.
type Config struct {
	Node Node
	Apps []App // in file order
}

// Node holds the `config nuvol 'main'` section.
type Node struct {
	Enabled bool
	// NodeName is the node's name in the federation; empty means the
	// host name (see NameOrHost).
	NodeName      string
	CloudName     string // Cloudy's cloud name: services are <host>.<cloud>.local
	DeviceName    string // Cloudy's device (network) name
	BindAddr      string // serf bind address
	BindPort      int    // serf port, TCP and UDP
	AdvertiseAddr string // address other nodes reach this one at; empty: automatic
	Join          []string
	EncryptKey    string // serf gossip key, base64; empty: no encryption (as Cloudy)
	LxcPath       string
	Socket        string   // the CLI's control socket
	LogLevel      string   // debug, info, warn, error
	Catalogs      []string // extra catalog directories or feed URLs
	ImageServer   string   // LXC image server for image-based apps
}

// App is one `config app 'NAME'` section: an installed app instance.
type App struct {
	Name        string // section name = instance name = container name
	App         string // catalog id
	Enabled     bool
	Publish     bool
	Port        int // 0: the catalog's port
	Memory      int // MiB
	CPUWeight   int // cgroup cpu.weight, 1 to 10000
	Description string
	Network     string // "host" or "bridge"
	Bridge      string // with network 'bridge'
}

// Defaults of an app section's options.
const (
	DefaultMemory    = 64
	DefaultCPUWeight = 100
)

// Default returns the configuration files/etc/config/nuvol holds: the
// node's defaults and no apps.
func Default() *Config {
	return &Config{Node: Node{
		Enabled:     true,
		CloudName:   "guifi",
		DeviceName:  "demo",
		BindAddr:    "0.0.0.0",
		BindPort:    5000,
		LxcPath:     "/srv/lxc",
		Socket:      "/var/run/nuvol.sock",
		LogLevel:    "info",
		ImageServer: "https://images.linuxcontainers.org",
	}}
}

// DefaultApp returns an app section's defaults.
func DefaultApp(name, app string) App {
	return App{Name: name, App: app, Enabled: true, Memory: DefaultMemory, CPUWeight: DefaultCPUWeight, Network: NetworkHost}
}

// NameOrHost returns NodeName, or the host name when it is empty.
func (n Node) NameOrHost() string {
	if n.NodeName != "" {
		return n.NodeName
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "nuvol"
	}
	return h
}

// App returns the app called name.
func (c *Config) App(name string) (App, bool) {
	for _, a := range c.Apps {
		if a.Name == name {
			return a, true
		}
	}
	return App{}, false
}

// Load reads, parses and validates the file at path. A parse error names
// the file and line; validation errors name every bad option.
func Load(path string) (*Config, error) {
	f, err := uci.Load(path)
	if err != nil {
		return nil, err
	}
	return FromUCI(f)
}

// FromUCI reads the configuration out of a parsed file, fills in defaults
// and validates it. It returns every problem it finds (as Errors), not
// only the first, and no Config when there is any. Sections and options
// it does not know are ignored (and kept in the file).
func FromUCI(f *uci.File) (*Config, error) {
	c := Default()
	r := &reader{f: f}
	nodes := f.SectionsByType(TypeNode)
	if len(nodes) > 0 {
		r.node(nodes[0], &c.Node)
		for _, s := range nodes[1:] {
			r.addf(r.path(s, ""), "there must be only one `config nuvol` section (the first is %s)", r.path(nodes[0], ""))
		}
	}
	apps := f.SectionsByType(TypeApp)
	if len(apps) > 0 {
		c.Apps = make([]App, 0, len(apps))
	}
	for _, s := range apps {
		if a, ok := r.app(s); ok {
			c.Apps = append(c.Apps, a)
		}
	}
	r.ports(c)
	if len(r.errs) > 0 {
		return nil, r.errs
	}
	return c, nil
}

// PutApp writes a into its `config app` section, adding the section when
// there is none. Options nuvol does not know are left as they are. Zero
// Memory, CPUWeight and Network mean their defaults; Port 0 removes the
// port option (the catalog's port applies).
func PutApp(f *uci.File, a App) error {
	a = withDefaults(a)
	r := &reader{f: f}
	if err := ValidName(a.Name); err != nil {
		return fmt.Errorf("%s.%s: %w", pkgName(f), a.Name, err)
	}
	r.checkApp(a, true)
	if len(r.errs) > 0 {
		return r.errs
	}
	s := f.Section(a.Name)
	if s != nil && s.Type != TypeApp {
		return fmt.Errorf("%s.%s: the name is taken by a `config %s` section", pkgName(f), a.Name, s.Type)
	}
	if s == nil {
		var err error
		if s, err = f.AddSection(TypeApp, a.Name); err != nil {
			return err
		}
	}
	port := ""
	if a.Port != 0 {
		port = strconv.Itoa(a.Port)
	}
	for _, kv := range [][2]string{
		{"app", a.App},
		{"enabled", boolStr(a.Enabled)},
		{"publish", boolStr(a.Publish)},
		{"port", port},
		{"memory", strconv.Itoa(a.Memory)},
		{"cpu_weight", strconv.Itoa(a.CPUWeight)},
		{"description", a.Description},
		{"network", a.Network},
		{"bridge", a.Bridge},
	} {
		if err := s.Set(kv[0], kv[1]); err != nil {
			return fmt.Errorf("%s: %w", r.appPath(a.Name, kv[0]), err)
		}
	}
	return nil
}

// DeleteApp removes the app section called name; it reports whether there
// was one.
func DeleteApp(f *uci.File, name string) bool {
	s := f.Section(name)
	if s == nil || s.Type != TypeApp || s.Name != name {
		return false
	}
	return f.DeleteSection(name)
}

func withDefaults(a App) App {
	if a.Memory == 0 {
		a.Memory = DefaultMemory
	}
	if a.CPUWeight == 0 {
		a.CPUWeight = DefaultCPUWeight
	}
	if a.Network == "" {
		a.Network = NetworkHost
	}
	if a.Network == NetworkBridge && a.Bridge == "" {
		a.Bridge = DefaultBridge
	}
	return a
}

func boolStr(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func pkgName(f *uci.File) string {
	if f.Package == "" {
		return "nuvol"
	}
	return f.Package
}

// ValidName checks an app instance name. It must be a valid UCI section
// name (letters, digits and _) and a valid LXC container name (which also
// becomes the container's host name, so at most 63 bytes). It must not be
// "main", the node's section, nor look like the cfgNNHHHH names uci gives
// anonymous sections.
func ValidName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("the app name is empty")
	case !uci.ValidName(name):
		return fmt.Errorf("%q is not a valid app name: use only letters, digits and _", name)
	case len(name) > 63:
		return fmt.Errorf("%q is not a valid app name: longer than 63 bytes", name)
	case name == MainSection:
		return fmt.Errorf("%q is not a valid app name: it is the node's section", name)
	case looksAnonymous(name):
		return fmt.Errorf("%q is not a valid app name: uci uses names like it for unnamed sections", name)
	}
	return nil
}

func looksAnonymous(name string) bool {
	if !strings.HasPrefix(name, "cfg") || len(name) < 9 {
		return false
	}
	for _, c := range name[3:] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
