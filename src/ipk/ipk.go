// Package ipk writes OpenWrt .ipk packages exactly as OpenWrt's
// scripts/ipkg-build does, so that opkg and Turris's updater accept them
// like any package from the feed.
//
// An .ipk is a gzip'd GNU tar (not an ar archive as on Debian) of
// ./debian-binary, ./data.tar.gz and ./control.tar.gz, in that order. Every
// tar is written with owner 0:0, sorted names and one fixed mtime, and every
// gzip stream without name or time, so one source tree and one
// SOURCE_DATE_EPOCH always give the same bytes.
package ipk

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Control is what the package's control file says. The build computes
// Installed-Size.
type Control struct {
	Package      string
	Version      string
	Depends      []string
	Source       string // where the package's Makefile lives: "feeds/nuvol/nuvol"
	SourceName   string
	License      string
	Section      string
	URL          string
	Maintainer   string
	Architecture string
	Description  string // first line is the summary; further lines follow indented
}

// Package is one .ipk to build.
type Package struct {
	Control   Control
	Conffiles []string // files opkg keeps when the user changed them
	Files     []File
	// Postinst and Prerm are the package's own script code. As in the
	// feed, they go to postinst-pkg and prerm-pkg, which default_postinst
	// and default_prerm run; postinst and prerm themselves are always the
	// generated ones.
	Postinst, Prerm string
}

// The scripts OpenWrt's package-pack.mk writes for every package. The
// functions.sh check lets an offline root without base-files pass.
const (
	postinstScript = `#!/bin/sh
[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0
[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0
. ${IPKG_INSTROOT}/lib/functions.sh
default_postinst $0 "$@"
`
	prermScript = `#!/bin/sh
[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0
. ${IPKG_INSTROOT}/lib/functions.sh
default_prerm $0 "$@"
`
)

// FileName is the name ipkg-build gives the package: name_version_arch.ipk.
func (p *Package) FileName() string {
	return p.Control.Package + "_" + p.Control.Version + "_" + p.Control.Architecture + ".ipk"
}

// Build returns the .ipk's bytes, with every timestamp set to mtime.
func (p *Package) Build(mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	if err := p.Write(&buf, mtime); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Write writes the .ipk to w, with every timestamp set to mtime.
func (p *Package) Write(w io.Writer, mtime time.Time) error {
	if err := p.check(); err != nil {
		return err
	}
	t := mtime.Unix()
	if t < 0 {
		return fmt.Errorf("ipk: %s: mtime %v is before 1970", p.Control.Package, mtime)
	}
	entries, err := treeEntries(p.Files)
	if err != nil {
		return fmt.Errorf("ipk: %s: %w", p.Control.Package, err)
	}
	dataTar, err := tarBytes(entries, t)
	if err != nil {
		return fmt.Errorf("ipk: %s: data: %w", p.Control.Package, err)
	}
	// ipkg-build: installed_size=$(zcat data.tar.gz | wc -c).
	control := p.Control.Text(int64(len(dataTar)))

	cfiles := []File{
		{Path: "/control", Mode: 0o644, Data: []byte(control)},
		{Path: "/postinst", Mode: 0o755, Data: []byte(postinstScript)},
		{Path: "/prerm", Mode: 0o755, Data: []byte(prermScript)},
	}
	if len(p.Conffiles) > 0 {
		cf := append([]string(nil), p.Conffiles...)
		sort.Strings(cf) // ipkg-build: LC_ALL=C sort
		cfiles = append(cfiles, File{Path: "/conffiles", Mode: 0o644, Data: []byte(strings.Join(cf, "\n") + "\n")})
	}
	// package-pack.mk writes these with echo, which adds one newline.
	if p.Postinst != "" {
		cfiles = append(cfiles, File{Path: "/postinst-pkg", Mode: 0o755, Data: []byte(p.Postinst + "\n")})
	}
	if p.Prerm != "" {
		cfiles = append(cfiles, File{Path: "/prerm-pkg", Mode: 0o755, Data: []byte(p.Prerm + "\n")})
	}
	centries, err := treeEntries(cfiles)
	if err != nil {
		return fmt.Errorf("ipk: %s: control: %w", p.Control.Package, err)
	}
	controlTar, err := tarBytes(centries, t)
	if err != nil {
		return fmt.Errorf("ipk: %s: control: %w", p.Control.Package, err)
	}

	dataGz, err := gzipBytes(dataTar)
	if err != nil {
		return err
	}
	controlGz, err := gzipBytes(controlTar)
	if err != nil {
		return err
	}
	// The outer members are named on ipkg-build's command line, so they keep
	// that order; --sort=name only sorts what tar finds in directories.
	outer, err := tarBytes([]entry{
		{name: "./debian-binary", mode: 0o644, typ: typeReg, data: []byte("2.0\n")},
		{name: "./data.tar.gz", mode: 0o644, typ: typeReg, data: dataGz},
		{name: "./control.tar.gz", mode: 0o644, typ: typeReg, data: controlGz},
	}, t)
	if err != nil {
		return err
	}
	return gzipTo(w, outer)
}

// Text renders the control file in the field order of OpenWrt's
// package-pack.mk, leaving out empty fields.
func (c *Control) Text(installedSize int64) string {
	var b strings.Builder
	field := func(name, value string) {
		if value != "" {
			b.WriteString(name + ": " + value + "\n")
		}
	}
	field("Package", c.Package)
	field("Version", c.Version)
	field("Depends", strings.Join(c.Depends, ", "))
	field("Source", c.Source)
	field("SourceName", c.SourceName)
	field("License", c.License)
	field("Section", c.Section)
	field("URL", c.URL)
	field("Maintainer", c.Maintainer)
	field("Architecture", c.Architecture)
	field("Installed-Size", strconv.FormatInt(installedSize, 10))
	// package-pack.mk: printf "Description: "; echo "$DESCRIPTION" |
	// sed -e 's,^[[:space:]]*, ,g'. Every line, the first included, gets
	// one leading space, hence the two spaces after the colon.
	b.WriteString("Description: ")
	for _, line := range strings.Split(strings.TrimRight(c.Description, "\n"), "\n") {
		b.WriteString(" " + strings.TrimLeft(line, " \t") + "\n")
	}
	return b.String()
}

func (p *Package) check() error {
	c := &p.Control
	name := c.Package
	if name == "" {
		return fmt.Errorf("ipk: package has no name")
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_.+-", r)) {
			return fmt.Errorf("ipk: package name %q: %q is not allowed (only a-z, 0-9, _ . + -)", name, r)
		}
	}
	if c.Version == "" || strings.ContainsAny(c.Version, " \t\n_/") {
		return fmt.Errorf("ipk: %s: version %q must be non-empty, without spaces, '_' or '/'", name, c.Version)
	}
	if c.Architecture == "" || strings.ContainsAny(c.Architecture, " \t\n/") {
		return fmt.Errorf("ipk: %s: architecture %q must be non-empty, without spaces or '/'", name, c.Architecture)
	}
	for _, f := range []struct{ name, value string }{
		{"Source", c.Source}, {"SourceName", c.SourceName}, {"License", c.License},
		{"Section", c.Section}, {"URL", c.URL}, {"Maintainer", c.Maintainer},
		{"Depends", strings.Join(c.Depends, ", ")},
	} {
		if strings.ContainsAny(f.value, "\n\r") {
			return fmt.Errorf("ipk: %s: field %s: %q has a line break", name, f.name, f.value)
		}
	}
	for _, d := range c.Depends {
		if strings.TrimSpace(d) == "" || strings.Contains(d, ",") {
			return fmt.Errorf("ipk: %s: dependency %q must be one non-empty name", name, d)
		}
	}
	// ipkg-build drops conffiles that are not regular files in the
	// package; here that is a mistake worth stopping for.
	for _, cf := range p.Conffiles {
		found := false
		for _, f := range p.Files {
			if f.Path == cf && f.Link == "" {
				found = true
				break
			}
		}
		if !found {
			return fmt.Errorf("ipk: %s: conffile %s is not a file of the package", name, cf)
		}
	}
	return nil
}

// gzipTo compresses as `gzip -n` does: no file name, mtime 0, OS Unix (3).
// The deflate stream itself differs from GNU gzip's; the header and the
// decompressed bytes do not.
func gzipTo(w io.Writer, data []byte) error {
	zw, err := gzip.NewWriterLevel(w, 6) // gzip's default level; XFL stays 0 as gzip -6 writes
	if err != nil {
		return err
	}
	zw.OS = 3
	if _, err := zw.Write(data); err != nil {
		return err
	}
	return zw.Close()
}

func gzipBytes(data []byte) ([]byte, error) {
	var buf bytes.Buffer
	err := gzipTo(&buf, data)
	return buf.Bytes(), err
}
