// Package catalog holds nuvol's app manifests (an embedded default catalog
// plus extra directories and feeds) and turns a manifest into a container
// root file system.
package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
)

// Source kinds.
const (
	SourceBusybox = "busybox" // rootfs from the host's own busybox: no download
	SourceTarball = "tarball" // a rootfs tarball at a URL, pinned by sha256
	SourceImages  = "images"  // an LXC image server (meta/1.0/index-system)
)

// Manifest describes one app of the catalog.
type Manifest struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Type        string   `json:"type"` // Cloudy service type (the `s` of the services tag)
	Version     string   `json:"version"`
	Arch        []string `json:"arch,omitempty"` // image-server names (amd64, arm64, armhf...); empty = any
	Source      Source   `json:"source"`
	Port        int      `json:"port"`   // default port
	Memory      int      `json:"memory"` // default memory limit, MiB
	// Init is the app's command. The runtime's minimal init runs it as
	// the container's only service (never the rootfs's own init); ${PORT}, ${ADDR}, ${NAME} and
	// ${MEMORY} are replaced at install time.
	Init  []string   `json:"init"`
	Env   []string   `json:"env,omitempty"`   // KEY=VALUE, variables expanded as in Init
	Setup [][]string `json:"setup,omitempty"` // run once inside the container after unpacking
	// Files are written into the rootfs after unpacking (path -> content),
	// e.g. the page a static web server serves. Not expanded.
	Files  map[string]string `json:"files,omitempty"`
	Health Health            `json:"health"`
}

// Source says where the rootfs comes from.
type Source struct {
	Type string `json:"type"`
	// busybox: applets the app needs; Prepare refuses a host busybox
	// without them (OpenWrt's busybox is built with a small applet set).
	Applets []string `json:"applets,omitempty"`
	// busybox: host programs standing in for applets the host busybox
	// lacks (applet -> absolute path), e.g. {"httpd": "/usr/sbin/uhttpd"}.
	Fallback map[string]string `json:"fallback,omitempty"`
	// tarball
	URL    string `json:"url,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	// images: dist;release;variant as in the server's index. Release
	// "latest" picks the highest numbered release the index has.
	Dist    string `json:"dist,omitempty"`
	Release string `json:"release,omitempty"`
	Variant string `json:"variant,omitempty"`
}

// Health is the check an install waits for: a TCP port that answers.
type Health struct {
	Port    int `json:"port,omitempty"`    // 0 = the app's port
	Timeout int `json:"timeout,omitempty"` // seconds; 0 = DefaultHealthTimeout
}

// DefaultHealthTimeout is used when a manifest gives none.
const DefaultHealthTimeout = 30

// Validation errors. Errors returned by Validate wrap ErrInvalid and one
// of these, and name the manifest and field.
var (
	ErrInvalid     = errors.New("invalid manifest")
	ErrMissing     = errors.New("missing")
	ErrBadValue    = errors.New("bad value")
	ErrUnknownVar  = errors.New("unknown variable")
	ErrBadSource   = errors.New("bad source")
	ErrUnsafePath  = errors.New("unsafe path")
	ErrUnknownArch = errors.New("unknown architecture")
)

// FieldError is a validation error about one field of one manifest.
type FieldError struct {
	ID    string // manifest id ("" when the id itself is bad)
	Field string // e.g. "source.sha256"
	Err   error  // one of the Err* values above
	Msg   string
}

func (e *FieldError) Error() string {
	id := e.ID
	if id == "" {
		id = "manifest"
	}
	return fmt.Sprintf("%s.%s: %s", id, e.Field, e.Msg)
}

func (e *FieldError) Unwrap() []error { return []error{ErrInvalid, e.Err} }

var (
	idRe     = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)
	typeRe   = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,32}$`)
	varRe    = regexp.MustCompile(`\$\{([^}]*)\}`)
	envKeyRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	appletRe = regexp.MustCompile(`^[a-z0-9_.\[-]+$`)
	sha256Re = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// Vars are the names a manifest may use as ${NAME} in init, env and setup.
var knownVars = map[string]bool{"PORT": true, "ADDR": true, "NAME": true, "MEMORY": true}

// KnownArch lists the architecture names of the LXC image servers that
// nuvol can map a router to.
var KnownArch = []string{"amd64", "i386", "arm64", "armhf", "armel", "mips", "mipsel", "mips64", "mips64el", "ppc64el", "riscv64", "s390x"}

// ParseManifest decodes and validates one manifest. Unknown fields are
// refused so that a typo ("sha265") does not silently drop a checksum.
func ParseManifest(data []byte) (Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if dec.More() {
		return Manifest{}, fmt.Errorf("%w: trailing data after the manifest", ErrInvalid)
	}
	if err := m.Validate(); err != nil {
		return Manifest{}, err
	}
	return m, nil
}

// Validate checks every field and returns the first problem found.
func (m *Manifest) Validate() error {
	bad := func(field string, err error, format string, a ...any) error {
		return &FieldError{ID: m.ID, Field: field, Err: err, Msg: fmt.Sprintf(format, a...)}
	}
	if m.ID == "" {
		return bad("id", ErrMissing, "no id")
	}
	if !idRe.MatchString(m.ID) {
		id := m.ID
		m.ID = ""
		defer func() { m.ID = id }()
		return bad("id", ErrBadValue, "%q is not an app id (a-z, 0-9, '-', at most 32)", id)
	}
	if strings.TrimSpace(m.Name) == "" {
		return bad("name", ErrMissing, "no name")
	}
	if len(m.Name) > 64 || strings.ContainsAny(m.Name, "\n\r\x00") {
		return bad("name", ErrBadValue, "%q is not a one-line name of at most 64 bytes", m.Name)
	}
	if len(m.Description) > 512 || strings.ContainsAny(m.Description, "\x00") {
		return bad("description", ErrBadValue, "longer than 512 bytes or has NUL")
	}
	if m.Type == "" {
		return bad("type", ErrMissing, "no service type")
	}
	if !typeRe.MatchString(m.Type) {
		return bad("type", ErrBadValue, "%q is not a service type", m.Type)
	}
	if m.Version == "" {
		return bad("version", ErrMissing, "no version")
	}
	for i, a := range m.Arch {
		if !contains(KnownArch, a) {
			return bad("arch["+strconv.Itoa(i)+"]", ErrUnknownArch, "%q is not one of %s", a, strings.Join(KnownArch, ", "))
		}
	}
	if err := m.validateSource(bad); err != nil {
		return err
	}
	if m.Port < 1 || m.Port > 65535 {
		return bad("port", ErrBadValue, "%d is not a port", m.Port)
	}
	if m.Memory < 4 || m.Memory > 1<<20 {
		return bad("memory", ErrBadValue, "%d MiB is not a memory limit (4 MiB or more)", m.Memory)
	}
	if len(m.Init) == 0 || m.Init[0] == "" {
		return bad("init", ErrMissing, "no command")
	}
	if err := checkArgv("init", m.Init, bad); err != nil {
		return err
	}
	for i, e := range m.Env {
		f := "env[" + strconv.Itoa(i) + "]"
		k, _, ok := strings.Cut(e, "=")
		if !ok || !envKeyRe.MatchString(k) {
			return bad(f, ErrBadValue, "%q is not KEY=VALUE", e)
		}
		if err := checkVars(f, e, bad); err != nil {
			return err
		}
	}
	for i, cmd := range m.Setup {
		f := "setup[" + strconv.Itoa(i) + "]"
		if len(cmd) == 0 || cmd[0] == "" {
			return bad(f, ErrMissing, "empty command")
		}
		if err := checkArgv(f, cmd, bad); err != nil {
			return err
		}
	}
	for p := range m.Files {
		if err := checkRootPath(p); err != nil {
			return bad("files", ErrUnsafePath, "%q: %v", p, err)
		}
	}
	if m.Health.Port < 0 || m.Health.Port > 65535 {
		return bad("health.port", ErrBadValue, "%d is not a port", m.Health.Port)
	}
	if m.Health.Timeout < 0 || m.Health.Timeout > 3600 {
		return bad("health.timeout", ErrBadValue, "%d s is not a timeout (0..3600)", m.Health.Timeout)
	}
	return nil
}

func (m *Manifest) validateSource(bad func(string, error, string, ...any) error) error {
	s := m.Source
	switch s.Type {
	case "":
		return bad("source.type", ErrMissing, "no source type")
	case SourceBusybox:
		if s.URL != "" || s.SHA256 != "" || s.Dist != "" {
			return bad("source", ErrBadSource, "busybox source takes only applets and fallback")
		}
		for i, a := range s.Applets {
			if !appletRe.MatchString(a) {
				return bad("source.applets["+strconv.Itoa(i)+"]", ErrBadValue, "%q is not an applet name", a)
			}
		}
		for a, p := range s.Fallback {
			if !contains(s.Applets, a) {
				return bad("source.fallback", ErrBadValue, "%q is not one of the applets", a)
			}
			if err := checkRootPath(p); err != nil {
				return bad("source.fallback", ErrUnsafePath, "%s: %q: %v", a, p, err)
			}
		}
	case SourceTarball:
		if s.Dist != "" || len(s.Applets) > 0 || len(s.Fallback) > 0 {
			return bad("source", ErrBadSource, "tarball source takes url and sha256")
		}
		if s.URL == "" {
			return bad("source.url", ErrMissing, "tarball source without url")
		}
		if !strings.HasPrefix(s.URL, "https://") && !strings.HasPrefix(s.URL, "http://") {
			return bad("source.url", ErrBadSource, "%q is not an http(s) URL", s.URL)
		}
		if !strings.HasSuffix(s.URL, ".tar.gz") && !strings.HasSuffix(s.URL, ".tgz") && !strings.HasSuffix(s.URL, ".tar.xz") && !strings.HasSuffix(s.URL, ".tar") {
			return bad("source.url", ErrBadSource, "%q: only .tar, .tar.gz, .tgz and .tar.xz are supported", s.URL)
		}
		if s.SHA256 == "" {
			return bad("source.sha256", ErrMissing, "tarball source without sha256")
		}
		if !sha256Re.MatchString(s.SHA256) {
			return bad("source.sha256", ErrBadValue, "%q is not 64 lower-case hex digits", s.SHA256)
		}
	case SourceImages:
		for _, f := range []struct{ name, v string }{{"dist", s.Dist}, {"release", s.Release}} {
			if f.v == "" {
				return bad("source."+f.name, ErrMissing, "images source without %s", f.name)
			}
			if strings.ContainsAny(f.v, ";/\n ") {
				return bad("source."+f.name, ErrBadValue, "%q", f.v)
			}
		}
		if strings.ContainsAny(s.Variant, ";/\n ") {
			return bad("source.variant", ErrBadValue, "%q", s.Variant)
		}
		if s.URL != "" || s.SHA256 != "" || len(s.Applets) > 0 || len(s.Fallback) > 0 {
			return bad("source", ErrBadSource, "images source takes dist, release, variant")
		}
	default:
		return bad("source.type", ErrBadSource, "%q is not busybox, tarball or images", s.Type)
	}
	return nil
}

func checkArgv(field string, argv []string, bad func(string, error, string, ...any) error) error {
	for _, a := range argv {
		if strings.ContainsRune(a, 0) {
			return bad(field, ErrBadValue, "argument has NUL")
		}
		if err := checkVars(field, a, bad); err != nil {
			return err
		}
	}
	return nil
}

func checkVars(field, s string, bad func(string, error, string, ...any) error) error {
	for _, mm := range varRe.FindAllStringSubmatch(s, -1) {
		if !knownVars[mm[1]] {
			return bad(field, ErrUnknownVar, "${%s} is not one of ${PORT} ${ADDR} ${NAME} ${MEMORY}", mm[1])
		}
	}
	return nil
}

// checkRootPath accepts an absolute, clean path inside the rootfs.
func checkRootPath(p string) error {
	if !strings.HasPrefix(p, "/") || p == "/" {
		return errors.New("not an absolute file path")
	}
	if path.Clean(p) != p {
		return errors.New("not a clean path")
	}
	if strings.ContainsRune(p, 0) {
		return errors.New("has NUL")
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Vars are the values substituted for ${NAME} in a manifest.
type Vars struct {
	Port   int
	Addr   string // address the app binds; "0.0.0.0" on a router
	Name   string // container (app instance) name
	Memory int
}

func (v Vars) lookup(name string) string {
	switch name {
	case "PORT":
		return strconv.Itoa(v.Port)
	case "ADDR":
		if v.Addr == "" {
			return "0.0.0.0"
		}
		return v.Addr
	case "NAME":
		return v.Name
	case "MEMORY":
		return strconv.Itoa(v.Memory)
	}
	return ""
}

// Expand replaces ${VAR} in s.
func (v Vars) Expand(s string) string {
	return varRe.ReplaceAllStringFunc(s, func(m string) string { return v.lookup(m[2 : len(m)-1]) })
}

// ExpandAll expands every element of a list.
func (v Vars) ExpandAll(list []string) []string {
	if list == nil {
		return nil
	}
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = v.Expand(s)
	}
	return out
}

// HealthPort is the TCP port an install waits for, given the app's port.
func (m Manifest) HealthPort(appPort int) int {
	if m.Health.Port != 0 {
		return m.Health.Port
	}
	return appPort
}

// RunsOn says whether the app runs on an architecture (image-server name).
func (m Manifest) RunsOn(arch string) bool {
	return len(m.Arch) == 0 || contains(m.Arch, arch)
}
