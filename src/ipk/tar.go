package ipk

import (
	"bytes"
	"fmt"
	"io"
)

// The tar writer below reproduces, byte for byte, what GNU tar writes for
// ipkg-build's `tar --format=gnu --numeric-owner --sort=name --mtime=...`.
// archive/tar cannot be used for that: it writes "0000000\x00" into the
// device fields that GNU tar leaves zeroed, and it does not pad the archive
// to GNU tar's 10240-byte record, which changes Installed-Size.

const (
	blockSize  = 512
	recordSize = 20 * blockSize // GNU tar's default blocking factor
	nameSize   = 100

	typeReg     = '0'
	typeSymlink = '2'
	typeDir     = '5'
	typeLong    = 'L' // GNU long name: the next header's name is in this entry's data
)

// entry is one member of a tar stream, already in archive order.
type entry struct {
	name string // "./etc/config/nuvol"; directories end in "/"
	mode int64  // permission bits only, as GNU tar stores them
	typ  byte
	link string // symlink target
	data []byte
}

// writeTar writes entries as one GNU tar archive: owner 0:0 with empty user
// and group names (--numeric-owner), every mtime set to mtime, two zero
// blocks at the end and zero padding up to a whole record.
func writeTar(w io.Writer, entries []entry, mtime int64) (int64, error) {
	cw := &countWriter{w: w}
	for _, e := range entries {
		if len(e.link) > nameSize {
			return cw.n, fmt.Errorf("tar: %s: symlink target longer than %d bytes", e.name, nameSize)
		}
		if len(e.name) > nameSize {
			long := append([]byte(e.name), 0)
			h, err := header("././@LongLink", 0o644, typeLong, "", int64(len(long)), 0)
			if err != nil {
				return cw.n, err
			}
			if _, err := cw.Write(h); err != nil {
				return cw.n, err
			}
			if err := writePadded(cw, long); err != nil {
				return cw.n, err
			}
		}
		size := int64(len(e.data))
		if e.typ != typeReg {
			size = 0
		}
		h, err := header(e.name, e.mode, e.typ, e.link, size, mtime)
		if err != nil {
			return cw.n, err
		}
		if _, err := cw.Write(h); err != nil {
			return cw.n, err
		}
		if e.typ == typeReg {
			if err := writePadded(cw, e.data); err != nil {
				return cw.n, err
			}
		}
	}
	end := 2 * blockSize
	if rem := (cw.n + int64(end)) % recordSize; rem != 0 {
		end += int(recordSize - rem)
	}
	_, err := cw.Write(make([]byte, end))
	return cw.n, err
}

// header builds one 512-byte GNU header. Names longer than the field are
// cut, as GNU tar does after it has written the ././@LongLink entry.
func header(name string, mode int64, typ byte, link string, size, mtime int64) ([]byte, error) {
	h := make([]byte, blockSize)
	copy(h[0:nameSize], name)
	if err := octal(h[100:108], mode); err != nil {
		return nil, fmt.Errorf("tar: %s: mode %o: %w", name, mode, err)
	}
	octal(h[108:116], 0) // uid
	octal(h[116:124], 0) // gid
	if err := octal(h[124:136], size); err != nil {
		return nil, fmt.Errorf("tar: %s: size %d: %w", name, size, err)
	}
	if err := octal(h[136:148], mtime); err != nil {
		return nil, fmt.Errorf("tar: %s: mtime %d: %w", name, mtime, err)
	}
	h[156] = typ
	copy(h[157:257], link)
	copy(h[257:265], "ustar  \x00") // GNU magic and version
	// uname, gname, devmajor, devminor and the GNU extra fields stay zero.

	// The checksum is summed with its own field read as spaces, and stored
	// as six octal digits, a NUL and a space.
	copy(h[148:156], "        ")
	var sum int64
	for _, b := range h {
		sum += int64(b)
	}
	octal(h[148:155], sum)
	h[155] = ' '
	return h, nil
}

// octal fills field with zero-padded octal digits and a final NUL.
func octal(field []byte, v int64) error {
	digits := len(field) - 1
	s := fmt.Sprintf("%0*o", digits, v)
	if v < 0 || len(s) > digits {
		return fmt.Errorf("does not fit in %d octal digits", digits)
	}
	copy(field, s)
	field[digits] = 0
	return nil
}

func writePadded(w io.Writer, data []byte) error {
	if _, err := w.Write(data); err != nil {
		return err
	}
	if rem := len(data) % blockSize; rem != 0 {
		_, err := w.Write(make([]byte, blockSize-rem))
		return err
	}
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// tarBytes is writeTar into memory.
func tarBytes(entries []entry, mtime int64) ([]byte, error) {
	var buf bytes.Buffer
	_, err := writeTar(&buf, entries, mtime)
	return buf.Bytes(), err
}
