package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/nuvol-project/nuvol/src/ipk"
)

// What both packages say about themselves. The feed Makefiles in openwrt/
// say the same, so an SDK build and `make ipk` describe nuvol alike.
const (
	license = "GPL-2.0-only" // as luci-app/Makefile declares; the repository has no LICENSE file yet
	url     = "https://github.com/nuvol-project/nuvol"
	feed    = "feeds/nuvol/" // Source: where the package's Makefile sits in the SDK
)

// nuvolDepends are the OpenWrt packages that provide what the static
// binary runs: the lxc applets the lxc-tools runtime executes, lxc-common
// for /etc/lxc/lxc.conf, and kmod-veth because bridge-mode apps get a veth
// pair. libc is not among them: the binary is static. TestDependsMatchRuntime
// keeps the applet list equal to the ones src/runtime actually executes.
var nuvolDepends = []string{
	"lxc-start", "lxc-stop", "lxc-info", "lxc-attach", "lxc-destroy",
	"lxc-freeze", "lxc-unfreeze",
	"lxc-common", "kmod-veth",
}

const nuvolDescription = `nuvol turns a router into one node of a community edge microcloud.
The owner installs apps with one click; each runs as an LXC container
and can be published to the community, where other nuvol and Cloudy
nodes find it (serf federation, Cloudy's service tags).`

// nuvolPackage is nuvol for one architecture: the static binary, and the
// tree under files/ (config, init script, uci-defaults).
func nuvolPackage(version, arch string, bin []byte, filesDir string) (*ipk.Package, error) {
	files, err := ipk.Dir(filesDir, "/")
	if err != nil {
		return nil, err
	}
	for _, need := range []string{"/etc/config/nuvol", "/etc/init.d/nuvol"} {
		if !hasFile(files, need) {
			return nil, fmt.Errorf("mkipk: %s is missing", filepath.Join(filesDir, filepath.FromSlash(need)))
		}
	}
	for i := range files {
		// Init scripts must run whatever the checkout's modes; everything
		// else is data (uci-defaults are sourced, not executed).
		switch {
		case strings.HasPrefix(files[i].Path, "/etc/init.d/"):
			files[i].Mode = 0o755
		case strings.HasPrefix(files[i].Path, "/etc/config/"), strings.HasPrefix(files[i].Path, "/etc/uci-defaults/"):
			files[i].Mode = 0o644
		}
	}
	files = append(files, ipk.File{Path: "/usr/sbin/nuvol", Mode: 0o755, Data: bin})
	return &ipk.Package{
		Control: ipk.Control{
			Package:      "nuvol",
			Version:      version,
			Depends:      nuvolDepends,
			Source:       feed + "nuvol",
			SourceName:   "nuvol",
			License:      license,
			Section:      "net",
			URL:          url,
			Architecture: arch,
			Description:  nuvolDescription,
		},
		Conffiles: []string{"/etc/config/nuvol"},
		Files:     files,
	}, nil
}

// luciPostinst is what luci.mk's apps do on a live system: drop LuCI's
// caches so the new menu shows, and make rpcd reread its ACLs so the page
// may call the nuvol ubus object.
const luciPostinst = `[ -n "${IPKG_INSTROOT}" ] || {
	rm -f /tmp/luci-indexcache.*
	rm -rf /tmp/luci-modulecache/
	killall -HUP rpcd 2>/dev/null
	exit 0
}`

// luciPackage is luci-app-nuvol, laid out as luci.mk installs an app:
// htdocs/ under /www and root/ under /.
func luciPackage(version, luciDir string) (*ipk.Package, error) {
	htdocs, err := ipk.Dir(filepath.Join(luciDir, "htdocs"), "/www")
	if err != nil {
		return nil, err
	}
	root, err := ipk.Dir(filepath.Join(luciDir, "root"), "/")
	if err != nil {
		return nil, err
	}
	files := append(htdocs, root...)
	if len(files) == 0 {
		return nil, fmt.Errorf("mkipk: %s has no files under htdocs/ or root/ (use -no-luci to skip the LuCI package)", luciDir)
	}
	var conffiles []string
	for _, f := range files {
		if strings.HasPrefix(f.Path, "/etc/config/") {
			conffiles = append(conffiles, f.Path)
		}
	}
	return &ipk.Package{
		Control: ipk.Control{
			Package:      "luci-app-nuvol",
			Version:      version,
			Depends:      []string{"nuvol", "luci-base"},
			Source:       feed + "luci-app-nuvol",
			SourceName:   "luci-app-nuvol",
			License:      license,
			Section:      "luci",
			URL:          url,
			Architecture: "all",
			Description:  "LuCI pages for nuvol: app catalog, my apps, community search, nodes and settings.",
		},
		Conffiles: conffiles,
		Files:     files,
		Postinst:  luciPostinst,
	}, nil
}

func hasFile(files []ipk.File, p string) bool {
	for _, f := range files {
		if f.Path == p {
			return true
		}
	}
	return false
}

func readBinary(pattern, arch string) ([]byte, error) {
	p := strings.ReplaceAll(pattern, "{arch}", arch)
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("mkipk: %s binary: %w (run `make cross` first)", arch, err)
	}
	return b, nil
}
