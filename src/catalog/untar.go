package catalog

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/ulikunitz/xz"
)

// ErrUnsafeEntry is wrapped by every error about a tar entry that could
// write outside the rootfs or create something a rootfs must not have.
var ErrUnsafeEntry = errors.New("unsafe tar entry")

// EntryError names the tar entry an unpacking error is about.
type EntryError struct {
	Entry string
	Err   error
}

func (e *EntryError) Error() string { return fmt.Sprintf("tar entry %q: %v", e.Entry, e.Err) }
func (e *EntryError) Unwrap() error { return e.Err }

func unsafeEntry(name, format string, a ...any) error {
	return &EntryError{Entry: name, Err: fmt.Errorf("%w: %s", ErrUnsafeEntry, fmt.Sprintf(format, a...))}
}

// MaxEntrySize bounds one file of a rootfs, so that a sparse entry with a
// huge logical size cannot make Untar write zeros until the disk is full.
const MaxEntrySize = 4 << 30

// UntarStats counts what Untar did.
type UntarStats struct {
	Files, Dirs, Symlinks, Hardlinks int
	Skipped                          int // device nodes and FIFOs: LXC's autodev provides /dev
	Bytes                            int64
}

// Decompress returns a reader of the tar stream in r, which may be plain,
// gzip or xz compressed: the format is taken from the magic bytes, not the
// file name.
func Decompress(r io.Reader) (io.Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, _ := br.Peek(6)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		return gzip.NewReader(br)
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}):
		return xz.NewReader(br)
	}
	return br, nil
}

// Untar unpacks the tar stream r into the directory root, which must
// exist. It refuses entry names that are absolute or contain "..", never
// writes through a symbolic link (links in the archive are created as
// links, absolute targets included, but nothing is then written below or
// through them), and does not create device nodes or FIFOs. Errors name
// the entry.
func Untar(r io.Reader, root string) (UntarStats, error) {
	var st UntarStats
	tr := tar.NewReader(r)
	asRoot := os.Geteuid() == 0
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return st, nil
		}
		if err != nil {
			return st, fmt.Errorf("reading tar: %w", err)
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		rel, err := entryPath(hdr.Name)
		if err != nil {
			return st, &EntryError{Entry: hdr.Name, Err: err}
		}
		if rel == "" { // "./": the root itself
			continue
		}
		if err := makeParents(root, rel); err != nil {
			return st, &EntryError{Entry: hdr.Name, Err: err}
		}
		target := filepath.Join(root, filepath.FromSlash(rel))
		mode := os.FileMode(hdr.Mode & 0o777)
		if hdr.Mode&0o4000 != 0 {
			mode |= os.ModeSetuid
		}
		if hdr.Mode&0o2000 != 0 {
			mode |= os.ModeSetgid
		}
		if hdr.Mode&0o1000 != 0 {
			mode |= os.ModeSticky
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			fi, err := os.Lstat(target)
			switch {
			case err == nil && fi.IsDir():
			case err == nil:
				if err := os.Remove(target); err != nil {
					return st, &EntryError{hdr.Name, err}
				}
				fallthrough
			case errors.Is(err, fs.ErrNotExist):
				if err := os.Mkdir(target, 0o755); err != nil {
					return st, &EntryError{hdr.Name, err}
				}
			default:
				return st, &EntryError{hdr.Name, err}
			}
			if err := setOwnerMode(target, hdr, mode, asRoot); err != nil {
				return st, &EntryError{hdr.Name, err}
			}
			st.Dirs++
		case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse:
			if isSparse(hdr) {
				// A sparse entry's holes cost nothing in the archive but
				// are written out as zeros: a few bytes could fill the
				// disk. Rootfs tarballs do not use them.
				return st, unsafeEntry(hdr.Name, "sparse files are not supported")
			}
			if hdr.Size > MaxEntrySize {
				return st, unsafeEntry(hdr.Name, "%d bytes is more than a rootfs file may have (%d)", hdr.Size, int64(MaxEntrySize))
			}
			if err := clearTarget(target); err != nil {
				return st, &EntryError{hdr.Name, err}
			}
			// O_EXCL|O_NOFOLLOW: the name was just cleared, so a link
			// that appears there is refused, not followed.
			f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
			if err != nil {
				return st, &EntryError{hdr.Name, err}
			}
			n, err := io.Copy(f, tr)
			st.Bytes += n
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return st, &EntryError{hdr.Name, err}
			}
			if err := setOwnerMode(target, hdr, mode, asRoot); err != nil {
				return st, &EntryError{hdr.Name, err}
			}
			st.Files++
		case tar.TypeSymlink:
			if hdr.Linkname == "" || strings.ContainsRune(hdr.Linkname, 0) {
				return st, unsafeEntry(hdr.Name, "bad link target %q", hdr.Linkname)
			}
			if err := clearTarget(target); err != nil {
				return st, &EntryError{hdr.Name, err}
			}
			if err := os.Symlink(hdr.Linkname, target); err != nil {
				return st, &EntryError{hdr.Name, err}
			}
			if asRoot {
				if err := os.Lchown(target, hdr.Uid, hdr.Gid); err != nil {
					return st, &EntryError{hdr.Name, err}
				}
			}
			st.Symlinks++
		case tar.TypeLink:
			src, err := entryPath(hdr.Linkname)
			if err != nil || src == "" {
				return st, unsafeEntry(hdr.Name, "hard link to %q: %v", hdr.Linkname, err)
			}
			if err := checkParents(root, src); err != nil {
				return st, &EntryError{hdr.Name, fmt.Errorf("hard link to %q: %w", hdr.Linkname, err)}
			}
			srcPath := filepath.Join(root, filepath.FromSlash(src))
			fi, err := os.Lstat(srcPath)
			if err != nil {
				return st, &EntryError{hdr.Name, fmt.Errorf("hard link to %q: %w", hdr.Linkname, err)}
			}
			if fi.IsDir() {
				return st, unsafeEntry(hdr.Name, "hard link to directory %q", hdr.Linkname)
			}
			if srcPath == target {
				continue
			}
			if err := clearTarget(target); err != nil {
				return st, &EntryError{hdr.Name, err}
			}
			// link(2) does not follow a symbolic link at srcPath: it
			// links the symlink itself.
			if err := os.Link(srcPath, target); err != nil {
				return st, &EntryError{hdr.Name, err}
			}
			st.Hardlinks++
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			st.Skipped++
		case tar.TypeXHeader, tar.TypeGNULongName, tar.TypeGNULongLink:
			// consumed by archive/tar; never returned
		default:
			return st, unsafeEntry(hdr.Name, "unsupported entry type %q", hdr.Typeflag)
		}
	}
}

func isSparse(hdr *tar.Header) bool {
	if hdr.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// entryPath turns a tar entry name into a clean relative slash path.
// "" means the root directory itself.
func entryPath(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("%w: empty name", ErrUnsafeEntry)
	}
	if strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("%w: name has NUL", ErrUnsafeEntry)
	}
	if strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("%w: absolute name", ErrUnsafeEntry)
	}
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", fmt.Errorf("%w: name has a .. component", ErrUnsafeEntry)
		}
	}
	p := path.Clean(name)
	if p == "." {
		return "", nil
	}
	return p, nil
}

// makeParents creates the missing parent directories of rel under root
// and refuses a parent that is a symbolic link or not a directory.
func makeParents(root, rel string) error {
	dir := root
	parts := strings.Split(rel, "/")
	for i, c := range parts[:len(parts)-1] {
		dir = filepath.Join(dir, c)
		fi, err := os.Lstat(dir)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if err := os.Mkdir(dir, 0o755); err != nil {
				return err
			}
		case err != nil:
			return err
		case fi.Mode()&fs.ModeSymlink != 0:
			return fmt.Errorf("%w: parent %q is a symbolic link", ErrUnsafeEntry, strings.Join(parts[:i+1], "/"))
		case !fi.IsDir():
			return fmt.Errorf("%w: parent %q is not a directory", ErrUnsafeEntry, strings.Join(parts[:i+1], "/"))
		}
	}
	return nil
}

// checkParents is makeParents without creating anything.
func checkParents(root, rel string) error {
	dir := root
	parts := strings.Split(rel, "/")
	for i, c := range parts[:len(parts)-1] {
		dir = filepath.Join(dir, c)
		fi, err := os.Lstat(dir)
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return fmt.Errorf("%w: parent %q is not a directory", ErrUnsafeEntry, strings.Join(parts[:i+1], "/"))
		}
	}
	return nil
}

// clearTarget removes what is at target so that a new entry can take its
// place: a file or link is unlinked (never followed); a directory is
// refused, as GNU tar does.
func clearTarget(target string) error {
	fi, err := os.Lstat(target)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("%w: would replace a directory", ErrUnsafeEntry)
	}
	return os.Remove(target)
}

// setOwnerMode sets owner then mode (chown clears set-id bits).
func setOwnerMode(target string, hdr *tar.Header, mode os.FileMode, asRoot bool) error {
	if asRoot {
		if err := os.Lchown(target, hdr.Uid, hdr.Gid); err != nil {
			return err
		}
	}
	return os.Chmod(target, mode)
}
