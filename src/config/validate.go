package config

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/nuvol-project/nuvol/src/uci"
)

// FieldError is one problem with one option (or section), named by its
// uci path: `nuvol.web.port: "80a" is not a port`.
type FieldError struct {
	Path string // nuvol.SECTION[.OPTION], with @type[i] for unnamed sections
	Msg  string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Msg }

// Errors is every problem found in one file.
type Errors []*FieldError

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "; ")
}

// Unwrap lets errors.As find each FieldError.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// reader pulls typed values out of sections and collects every error.
type reader struct {
	f    *uci.File
	errs Errors
}

func (r *reader) addf(path, format string, args ...any) {
	r.errs = append(r.errs, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (r *reader) bad(path, value, what string) {
	r.addf(path, "%q %s", value, what)
}

func (r *reader) path(s *uci.Section, opt string) string {
	p := pkgName(r.f) + "." + r.f.Ref(s)
	if opt != "" {
		p += "." + opt
	}
	return p
}

func (r *reader) str(s *uci.Section, opt, def string) string {
	if v, ok := s.Get(opt); ok {
		return v
	}
	return def
}

func (r *reader) boolean(s *uci.Section, opt string, def bool) bool {
	v, ok := s.Get(opt)
	if !ok {
		return def
	}
	b, err := uci.ParseBool(v)
	if err != nil {
		r.bad(r.path(s, opt), v, "is not a boolean (use 1 or 0)")
		return def
	}
	return b
}

func (r *reader) number(s *uci.Section, opt string, def, lo, hi int, what string) int {
	v, ok := s.Get(opt)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		r.bad(r.path(s, opt), v, what)
		return def
	}
	return n
}

func (r *reader) port(s *uci.Section, opt string, def int) int {
	return r.number(s, opt, def, 1, 65535, "is not a port")
}

func (r *reader) node(s *uci.Section, n *Node) {
	n.Enabled = r.boolean(s, "enabled", n.Enabled)
	n.NodeName = r.str(s, "node_name", n.NodeName)
	n.CloudName = r.str(s, "cloud_name", n.CloudName)
	n.DeviceName = r.str(s, "device_name", n.DeviceName)
	n.BindAddr = r.str(s, "bind_addr", n.BindAddr)
	n.BindPort = r.port(s, "bind_port", n.BindPort)
	n.AdvertiseAddr = r.str(s, "advertise_addr", n.AdvertiseAddr)
	n.Join = append([]string(nil), s.GetList("join")...)
	n.EncryptKey = r.str(s, "encrypt_key", n.EncryptKey)
	n.LxcPath = r.str(s, "lxc_path", n.LxcPath)
	n.Socket = r.str(s, "socket", n.Socket)
	n.LogLevel = r.str(s, "log_level", n.LogLevel)
	n.Catalogs = append([]string(nil), s.GetList("catalog")...)
	n.ImageServer = r.str(s, "image_server", n.ImageServer)

	p := func(opt string) string { return r.path(s, opt) }
	if n.NodeName != "" && !printableWord(n.NodeName, 128) {
		r.bad(p("node_name"), n.NodeName, "is not a node name (no spaces, at most 128 bytes)")
	}
	if !dnsName(n.CloudName) {
		r.bad(p("cloud_name"), n.CloudName, "is not a cloud name (a DNS name: letters, digits, - and .)")
	}
	if !simpleWord(n.DeviceName) {
		r.bad(p("device_name"), n.DeviceName, "is not a device name (letters, digits, _ and -)")
	}
	if net.ParseIP(n.BindAddr) == nil {
		r.bad(p("bind_addr"), n.BindAddr, "is not an IP address")
	}
	if n.AdvertiseAddr != "" && net.ParseIP(n.AdvertiseAddr) == nil {
		r.bad(p("advertise_addr"), n.AdvertiseAddr, "is not an IP address")
	}
	for _, j := range n.Join {
		if !hostPort(j) {
			r.bad(p("join"), j, "is not a host or host:port")
		}
	}
	if n.EncryptKey != "" {
		if k, err := base64.StdEncoding.DecodeString(n.EncryptKey); err != nil || (len(k) != 16 && len(k) != 24 && len(k) != 32) {
			r.addf(p("encrypt_key"), "is not a base64 key of 16, 24 or 32 bytes (make one with `serf keygen`)")
		}
	}
	if !absPath(n.LxcPath) {
		r.bad(p("lxc_path"), n.LxcPath, "is not an absolute path")
	}
	if !absPath(n.Socket) {
		r.bad(p("socket"), n.Socket, "is not an absolute path")
	}
	switch n.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		r.bad(p("log_level"), n.LogLevel, "is not a log level (debug, info, warn, error)")
	}
	for _, c := range n.Catalogs {
		if !absPath(c) && !httpURL(c) {
			r.bad(p("catalog"), c, "is not an absolute directory or an http(s) URL")
		}
	}
	if !httpURL(n.ImageServer) {
		r.bad(p("image_server"), n.ImageServer, "is not an http(s) URL")
	}
}

func (r *reader) app(s *uci.Section) (App, bool) {
	if s.Anonymous {
		r.addf(r.path(s, ""), "an app section needs a name: config app 'NAME'")
		return App{}, false
	}
	before := len(r.errs)
	if err := ValidName(s.Name); err != nil {
		r.addf(r.path(s, ""), "%v", err)
	}
	a := DefaultApp(s.Name, "")
	a.App = r.str(s, "app", "")
	a.Enabled = r.boolean(s, "enabled", a.Enabled)
	a.Publish = r.boolean(s, "publish", a.Publish)
	a.Port = r.port(s, "port", 0)
	a.Memory = r.number(s, "memory", a.Memory, 4, 1<<20, "is not a memory size in MiB (4 to 1048576)")
	a.CPUWeight = r.number(s, "cpu_weight", a.CPUWeight, 1, 10000, "is not a CPU weight (1 to 10000)")
	a.Description = r.str(s, "description", "")
	a.Network = r.str(s, "network", a.Network)
	a.Bridge = r.str(s, "bridge", "")
	if a.Network == NetworkBridge && a.Bridge == "" {
		a.Bridge = DefaultBridge
	}
	// Values read above are already checked; these are the rest.
	r.checkApp(a, false)
	return a, len(r.errs) == before
}

// checkApp validates an app's values; with all false it checks only
// those that the reader has not checked while reading them.
func (r *reader) checkApp(a App, all bool) {
	want := func(opt string) bool {
		return all || opt == "app" || opt == "description" || opt == "network" || opt == "bridge"
	}
	path := func(opt string) string { return r.appPath(a.Name, opt) }
	if want("app") {
		if a.App == "" {
			r.addf(path("app"), "missing: the catalog id of the app")
		} else if !catalogID(a.App) {
			r.bad(path("app"), a.App, "is not a catalog id (letters, digits, ., _ and -)")
		}
	}
	if want("port") && (a.Port < 0 || a.Port > 65535) {
		r.bad(path("port"), strconv.Itoa(a.Port), "is not a port")
	}
	if want("memory") && (a.Memory < 4 || a.Memory > 1<<20) {
		r.bad(path("memory"), strconv.Itoa(a.Memory), "is not a memory size in MiB (4 to 1048576)")
	}
	if want("cpu_weight") && (a.CPUWeight < 1 || a.CPUWeight > 10000) {
		r.bad(path("cpu_weight"), strconv.Itoa(a.CPUWeight), "is not a CPU weight (1 to 10000)")
	}
	if want("description") && !uci.ValidValue(a.Description) {
		r.bad(path("description"), a.Description, "holds control characters")
	}
	if want("network") && a.Network != NetworkHost && a.Network != NetworkBridge {
		r.bad(path("network"), a.Network, "is not a network mode (host or bridge)")
	}
	if want("bridge") && a.Bridge != "" && !ifName(a.Bridge) {
		r.bad(path("bridge"), a.Bridge, "is not an interface name (at most 15 bytes, no spaces or /)")
	}
}

// ports reports two enabled host-network apps on one port, or one on the
// node's serf port: they could not both listen.
func (r *reader) ports(c *Config) {
	used := make(map[int]string, len(c.Apps))
	for _, a := range c.Apps {
		if !a.Enabled || a.Port == 0 || a.Network != NetworkHost {
			continue
		}
		if a.Port == c.Node.BindPort {
			r.bad(r.appPath(a.Name, "port"), strconv.Itoa(a.Port), "is the node's bind_port (serf)")
		} else if other, ok := used[a.Port]; ok {
			r.bad(r.appPath(a.Name, "port"), strconv.Itoa(a.Port), fmt.Sprintf("is already used by app %q", other))
		} else {
			used[a.Port] = a.Name
		}
	}
}

func (r *reader) appPath(name, opt string) string {
	return pkgName(r.f) + "." + name + "." + opt
}

func printableWord(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func dnsLabel(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) && s[i] != '-' {
			return false
		}
	}
	return true
}

// dnsName accepts dot-separated DNS labels, as LuCI's `hostname`
// datatype does: services are announced as <host>.<cloud_name>.local.
func dnsName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if !dnsLabel(label) {
			return false
		}
	}
	return true
}

func simpleWord(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) && s[i] != '-' && s[i] != '_' {
			return false
		}
	}
	return true
}

func catalogID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) && !strings.ContainsRune("._-", rune(s[i])) {
			return false
		}
	}
	return true
}

func ifName(s string) bool {
	if len(s) > 15 || s == "." || s == ".." {
		return false
	}
	return printableWord(s, 15) && !strings.ContainsAny(s, "/:")
}

func absPath(s string) bool {
	return filepath.IsAbs(s) && printableWord(s, 4096)
}

func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && printableWord(s, 4096)
}

// hostPort accepts "host", "host:port" and "[v6]:port", as serf's join does.
func hostPort(s string) bool {
	host, port := s, ""
	if h, p, err := net.SplitHostPort(s); err == nil {
		host, port = h, p
	} else if strings.Count(s, ":") > 1 && net.ParseIP(s) != nil {
		host = s // a bare IPv6 address
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return false
		}
	}
	if net.ParseIP(host) != nil {
		return true
	}
	if host == "" || len(host) > 253 {
		return false
	}
	for _, label := range strings.Split(host, ".") {
		if !dnsLabel(label) && !(label == "" && strings.HasSuffix(host, ".")) {
			return false
		}
	}
	return true
}
