// Command mkipk writes nuvol's OpenWrt packages: nuvol_<version>_<arch>.ipk
// for each architecture given, from the binaries `make cross` built and the
// tree under files/, and luci-app-nuvol_<version>_all.ipk from luci-app/.
// Every timestamp comes from SOURCE_DATE_EPOCH, so two runs on one commit
// write the same bytes.
//
//	mkipk -version 0.1.0-1 -out dist -arch x86_64 -arch mipsel_24kc
//	mkipk -inspect dist/nuvol_0.1.0-1_x86_64.ipk
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nuvol-project/nuvol/src/ipk"
)

type archList []string

func (a *archList) String() string     { return strings.Join(*a, ",") }
func (a *archList) Set(v string) error { *a = append(*a, v); return nil }

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("mkipk", flag.ContinueOnError)
	var archs archList
	version := fs.String("version", "", "package version, <version>-<release> (required)")
	out := fs.String("out", "dist", "directory to write the .ipk files to")
	bin := fs.String("bin", "bin/{arch}/nuvol", "where each architecture's binary is")
	files := fs.String("files", "files", "tree installed by the nuvol package")
	luci := fs.String("luci", "luci-app", "LuCI app directory (htdocs/ and root/)")
	noLuci := fs.Bool("no-luci", false, "do not build luci-app-nuvol")
	inspect := fs.String("inspect", "", "print what an .ipk holds, and exit")
	fs.Var(&archs, "arch", "OpenWrt package architecture (repeat for several)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *inspect != "" {
		return inspectFile(*inspect, stdout)
	}
	if *version == "" {
		return errors.New("mkipk: -version is required")
	}
	mtime, err := sourceDateEpoch()
	if err != nil {
		return err
	}
	var pkgs []*ipk.Package
	for _, arch := range archs {
		b, err := readBinary(*bin, arch)
		if err != nil {
			return err
		}
		p, err := nuvolPackage(*version, arch, b, *files)
		if err != nil {
			return err
		}
		pkgs = append(pkgs, p)
	}
	if !*noLuci {
		p, err := luciPackage(*version, *luci)
		if err != nil {
			return err
		}
		pkgs = append(pkgs, p)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	for _, p := range pkgs {
		path := filepath.Join(*out, p.FileName())
		if err := writeFile(path, p, mtime); err != nil {
			return err
		}
		fmt.Fprintln(stdout, path)
	}
	return nil
}

// sourceDateEpoch is the reproducible-builds timestamp. Unlike ipkg-build
// there is no fallback to the clock: a package whose bytes depend on when
// it was built is what this tool exists to avoid.
func sourceDateEpoch() (time.Time, error) {
	v := os.Getenv("SOURCE_DATE_EPOCH")
	if v == "" {
		return time.Time{}, errors.New("mkipk: SOURCE_DATE_EPOCH is not set (the Makefile sets it from the last commit)")
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, fmt.Errorf("mkipk: SOURCE_DATE_EPOCH %q is not a count of seconds", v)
	}
	return time.Unix(n, 0), nil
}

// writeFile writes through a temporary file, so an interrupted run never
// leaves a truncated package behind for someone to scp to a router.
func writeFile(path string, p *ipk.Package, mtime time.Time) error {
	b, err := p.Build(mtime)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".mkipk-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func inspectFile(path string, w io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	a, err := ipk.Read(f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	fmt.Fprintf(w, "members: %s\n", strings.Join(a.Members, " "))
	for _, e := range a.ControlFiles {
		if e.Name == "./control" {
			fmt.Fprintf(w, "--- control\n%s", e.Data)
		}
	}
	fmt.Fprintf(w, "--- control.tar.gz\n")
	for _, e := range a.ControlFiles {
		fmt.Fprintf(w, "%04o %8d %s\n", e.Mode, len(e.Data), e.Name)
	}
	fmt.Fprintf(w, "--- data.tar.gz (%d bytes unpacked)\n", a.DataTarSize)
	for _, e := range a.Data {
		name := e.Name
		if e.Link != "" {
			name += " -> " + e.Link
		}
		fmt.Fprintf(w, "%04o %8d %s\n", e.Mode, len(e.Data), name)
	}
	return nil
}
