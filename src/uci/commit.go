package uci

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Locking follows libuci: there is no separate lock file. Readers take
// flock(LOCK_SH) on the config file itself and writers flock(LOCK_EX) on
// it while they write the new text to a temporary file in the same
// directory, which is then renamed over the config. A reader therefore
// sees either the old file or the new one, never a mix, whatever happens
// to the writer: rename is atomic and the temporary file is fsynced first.

// Load reads and parses the UCI file at path under a shared lock, as libuci
// does. The package is named after the file. A missing file gives an error
// that wraps fs.ErrNotExist.
func Load(path string) (*File, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "load", Path: path, Err: fs.ErrNotExist}
	}
	if err := flock(fd, syscall.LOCK_SH); err != nil {
		return nil, &fs.PathError{Op: "lock", Path: path, Err: err}
	}
	data, err := readAll(fd)
	if err != nil {
		return nil, err
	}
	return parseBytes(filepath.Base(path), data)
}

func flock(fd *os.File, how int) error {
	for {
		err := syscall.Flock(int(fd.Fd()), how)
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.ENOSYS {
			return nil // libuci goes on without locks where flock is missing
		}
		return err
	}
}

// lockFile opens path read-write (creating it with mode 0600, as libuci
// does) and takes the exclusive lock. Because a commit replaces the file
// by rename, the lock may have been taken on a file that is no longer at
// path; then it opens the new one and tries again.
func lockFile(path string) (*os.File, error) {
	for {
		fd, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, err
		}
		if err := flock(fd, syscall.LOCK_EX); err != nil {
			fd.Close()
			return nil, &fs.PathError{Op: "lock", Path: path, Err: err}
		}
		held, err1 := fd.Stat()
		now, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(held, now) {
			return fd, nil
		}
		fd.Close()
		if err2 != nil && !errors.Is(err2, fs.ErrNotExist) {
			return nil, err2
		}
	}
}

// Commit writes f to path atomically, with libuci's locking: it locks the
// config file, writes the text to a temporary file in the same directory
// (.NAME.uci-*), fsyncs it, gives it the config file's mode and renames it
// over the config (over a symlink's target, which keeps the symlink).
// Unlike libuci it keeps the lock until the rename is done and fsyncs the
// directory, so that two nuvol writers cannot lose each other's update.
func Commit(path string, f *File) error {
	fd, err := lockFile(path)
	if err != nil {
		return err
	}
	defer fd.Close()
	return replace(path, f.FileBytes())
}

// Update reads the file at path under the exclusive lock, calls fn to edit
// it, and commits the result before releasing the lock: a read-modify-write
// that another nuvol process or a `uci commit` cannot interleave with. A
// missing file is created (empty). If fn returns an error nothing is
// written and the error is returned.
//
// A `uci commit` that starts while Update holds the lock waits for it, but
// then re-reads the file descriptor it locked, which is the old file; that
// race is libuci's and cannot be closed from this side.
func Update(path string, fn func(f *File) error) error {
	fd, err := lockFile(path)
	if err != nil {
		return err
	}
	defer fd.Close()
	data, err := readAll(fd)
	if err != nil {
		return err
	}
	f, err := parseBytes(filepath.Base(path), data)
	if err != nil {
		return err
	}
	if err := fn(f); err != nil {
		return err
	}
	out := f.FileBytes()
	if bytes.Equal(out, data) {
		return nil
	}
	return replace(path, out)
}

func replace(path string, data []byte) error {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	st, err := os.Stat(real)
	if err != nil {
		return err
	}
	dir := filepath.Dir(real)
	prefix := "." + filepath.Base(path) + ".uci-"
	removeStale(dir, prefix)
	tmp, err := os.CreateTemp(dir, prefix)
	if err != nil {
		return err
	}
	name := tmp.Name()
	fail := func(err error) error {
		tmp.Close()
		os.Remove(name)
		return fmt.Errorf("commit %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := tmp.Chmod(st.Mode().Perm()); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(name, real); err != nil {
		os.Remove(name)
		return fmt.Errorf("commit %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// removeStale deletes temporary files that a writer killed mid-commit
// left behind. It runs under the exclusive lock, but `uci commit` renames
// its temporary file after unlocking, so only files older than a minute
// are taken for dead.
func removeStale(dir, prefix string) {
	matches, _ := filepath.Glob(filepath.Join(dir, globEscape(prefix)+"*"))
	for _, m := range matches {
		if fi, err := os.Lstat(m); err == nil && fi.Mode().IsRegular() && time.Since(fi.ModTime()) > time.Minute {
			os.Remove(m)
		}
	}
}

func globEscape(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', '\\':
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return string(b)
}

// readAll reads an open file, sized by fstat to read it in one go.
func readAll(fd *os.File) ([]byte, error) {
	var buf bytes.Buffer
	if st, err := fd.Stat(); err == nil && st.Size() > 0 && st.Size() < 1<<30 {
		buf.Grow(int(st.Size()) + bytes.MinRead)
	}
	_, err := buf.ReadFrom(fd)
	return buf.Bytes(), err
}
