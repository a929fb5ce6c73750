package ipk

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// File is one file a package installs.
type File struct {
	Path string      // absolute path on the router: "/usr/sbin/nuvol"
	Mode fs.FileMode // permission bits: 0755, 0644
	Data []byte
	Link string // when set, the file is a symlink to Link and Data is unused
}

// dirMode is what OpenWrt's $(INSTALL_DIR) gives every directory.
const dirMode = 0o755

type node struct {
	dir      bool
	file     *File
	children map[string]*node
}

// treeEntries lays files out as ipkg-build's `tar --sort=name .` does: the
// root "./" first, then each directory's entries sorted by byte order, each
// directory followed at once by its own contents (depth first). This is not
// a sort of the full paths: "./a/x" comes before "./a-b/", because "a" sorts
// before "a-b" within their directory. Parent directories are implied.
func treeEntries(files []File) ([]entry, error) {
	root := &node{dir: true, children: map[string]*node{}}
	for i := range files {
		f := &files[i]
		p, err := cleanPath(f.Path)
		if err != nil {
			return nil, err
		}
		parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
		n := root
		for j, part := range parts {
			child := n.children[part]
			last := j == len(parts)-1
			switch {
			case child == nil && last:
				child = &node{file: f}
			case child == nil:
				child = &node{dir: true, children: map[string]*node{}}
			case last || !child.dir:
				return nil, fmt.Errorf("ipk: %s: path given twice or under a file", f.Path)
			}
			n.children[part] = child
			n = child
		}
	}
	entries := []entry{{name: "./", mode: dirMode, typ: typeDir}}
	var walk func(prefix string, n *node)
	walk = func(prefix string, n *node) {
		names := make([]string, 0, len(n.children))
		for name := range n.children {
			names = append(names, name)
		}
		sort.Strings(names) // byte order, as GNU tar's strcmp
		for _, name := range names {
			c := n.children[name]
			p := prefix + name
			switch {
			case c.dir:
				entries = append(entries, entry{name: p + "/", mode: dirMode, typ: typeDir})
				walk(p+"/", c)
			case c.file.Link != "":
				entries = append(entries, entry{name: p, mode: 0o777, typ: typeSymlink, link: c.file.Link})
			default:
				entries = append(entries, entry{name: p, mode: int64(c.file.Mode.Perm()), typ: typeReg, data: c.file.Data})
			}
		}
	}
	walk("./", root)
	return entries, nil
}

// cleanPath accepts only absolute, already clean paths, so that a package
// never installs outside the paths its author wrote.
func cleanPath(p string) (string, error) {
	if !strings.HasPrefix(p, "/") || p == "/" || path.Clean(p) != p {
		return "", fmt.Errorf("ipk: %q is not a clean absolute file path", p)
	}
	return p, nil
}

// Dir reads the tree under dir into files installed under prefix, as
// luci.mk's `cp -pR htdocs/* $(1)/www/` does. Modes are normalised to 0755
// (any execute bit set) or 0644, because a checkout's modes depend on the
// umask of whoever cloned it and the package must not. A missing dir gives
// no files and no error: an app without htdocs/ simply installs nothing there.
func Dir(dir, prefix string) ([]File, error) {
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		return nil, nil
	}
	var files []File
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if rel == "." || d.IsDir() {
			return nil
		}
		target := path.Join("/", prefix, filepath.ToSlash(rel))
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			files = append(files, File{Path: target, Link: link})
		case info.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			mode := fs.FileMode(0o644)
			if info.Mode().Perm()&0o111 != 0 {
				mode = 0o755
			}
			files = append(files, File{Path: target, Mode: mode, Data: data})
		default:
			return fmt.Errorf("ipk: %s: not a regular file, directory or symlink", p)
		}
		return nil
	})
	return files, err
}
