package ipk

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Read opens an .ipk the way opkg does: gunzip the outer stream, walk its
// tar members, and open control.tar.gz and data.tar.gz (with or without a
// leading "./") as gzip'd tars of their own. It keeps everything it reads,
// so tests and `mkipk -inspect` can look at the members, their order, the
// control fields and the data entries. It never panics on bad input; sizes
// are capped so a hostile file cannot exhaust memory.
func Read(r io.Reader) (*Archive, error) {
	outer, err := readTarGz(r, "ipk")
	if err != nil {
		return nil, err
	}
	a := &Archive{}
	var control, data []Entry
	var haveControl, haveData bool
	for _, m := range outer {
		a.Members = append(a.Members, m.Name)
		switch strings.TrimPrefix(m.Name, "./") {
		case "debian-binary":
			a.DebianBinary = string(m.Data)
		case "control.tar.gz":
			if control, err = readTarGz(bytes.NewReader(m.Data), "control.tar.gz"); err != nil {
				return nil, err
			}
			haveControl = true
		case "data.tar.gz":
			if data, err = readTarGz(bytes.NewReader(m.Data), "data.tar.gz"); err != nil {
				return nil, err
			}
			haveData = true
			a.DataTarSize = m.unpacked
		}
	}
	if !haveControl {
		return nil, errors.New("ipk: no control.tar.gz member")
	}
	if !haveData {
		return nil, errors.New("ipk: no data.tar.gz member")
	}
	a.Outer, a.ControlFiles, a.Data = outer, control, data
	c, ok := a.ControlFile("control")
	if !ok {
		return nil, errors.New("ipk: control.tar.gz has no control file")
	}
	if a.Control, err = ParseControl(string(c.Data)); err != nil {
		return nil, err
	}
	if cf, ok := a.ControlFile("conffiles"); ok {
		for _, line := range strings.Split(string(cf.Data), "\n") {
			if line = strings.TrimSpace(line); line != "" {
				a.Conffiles = append(a.Conffiles, line)
			}
		}
	}
	return a, nil
}

// Archive is an .ipk as read back.
type Archive struct {
	Members      []string // outer member names, in order
	DebianBinary string
	Outer        []Entry
	ControlFiles []Entry // members of control.tar.gz, in order
	Data         []Entry // members of data.tar.gz, in order
	DataTarSize  int64   // bytes of data.tar.gz unpacked: what Installed-Size should say
	Control      []Field
	Conffiles    []string
}

// Entry is one tar member.
type Entry struct {
	Name     string
	Type     byte
	Mode     int64
	UID, GID int
	Uname    string
	Gname    string
	ModTime  int64
	Link     string
	Data     []byte
	Format   tar.Format
	unpacked int64 // for a .gz member: the size of its gunzipped content
}

// Field is one control field; Value keeps continuation lines joined by "\n".
type Field struct{ Name, Value string }

// Get returns the value of the control field name.
func (a *Archive) Get(name string) (string, bool) {
	for _, f := range a.Control {
		if f.Name == name {
			return f.Value, true
		}
	}
	return "", false
}

// ControlFile returns the member of control.tar.gz called name ("control",
// "postinst", ...), with or without its "./".
func (a *Archive) ControlFile(name string) (Entry, bool) {
	return find(a.ControlFiles, name)
}

// DataFile returns the member of data.tar.gz at the absolute path p.
func (a *Archive) DataFile(p string) (Entry, bool) {
	return find(a.Data, strings.TrimPrefix(p, "/"))
}

func find(entries []Entry, name string) (Entry, bool) {
	for _, e := range entries {
		if strings.TrimSuffix(strings.TrimPrefix(e.Name, "./"), "/") == strings.TrimSuffix(name, "/") {
			return e, true
		}
	}
	return Entry{}, false
}

// ParseControl parses a control file as opkg's parser reads one: "Name:
// value" lines, continuation lines starting with a space or tab, blank lines
// ignored. Errors name the line.
func ParseControl(text string) ([]Field, error) {
	var fields []Field
	for i, line := range strings.Split(text, "\n") {
		n := i + 1
		switch {
		case strings.TrimSpace(line) == "" && (line == "" || len(fields) == 0):
			continue
		case line[0] == ' ' || line[0] == '\t':
			if len(fields) == 0 {
				return nil, fmt.Errorf("control:%d: continuation line before any field: %q", n, line)
			}
			f := &fields[len(fields)-1]
			f.Value += "\n" + strings.TrimLeft(line, " \t")
		default:
			name, value, ok := strings.Cut(line, ":")
			if !ok || name == "" || strings.ContainsAny(name, " \t") {
				return nil, fmt.Errorf("control:%d: %q is not a \"Name: value\" line", n, line)
			}
			fields = append(fields, Field{Name: name, Value: strings.TrimSpace(value)})
		}
	}
	if len(fields) == 0 {
		return nil, errors.New("control: no fields")
	}
	return fields, nil
}

// Caps on what Read takes in: far above any nuvol package, far below what
// would hurt the machine running the tests.
const (
	maxMembers  = 10000
	maxUnpacked = 256 << 20
)

func readTarGz(r io.Reader, what string) ([]Entry, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("ipk: %s: %w", what, err)
	}
	zr.Multistream(false)
	lr := &io.LimitedReader{R: zr, N: maxUnpacked + 1}
	tr := tar.NewReader(lr)
	var out []Entry
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("ipk: %s: entry %d: %w", what, len(out)+1, err)
		}
		if len(out) >= maxMembers {
			return nil, fmt.Errorf("ipk: %s: more than %d entries", what, maxMembers)
		}
		if h.Size > maxUnpacked {
			return nil, fmt.Errorf("ipk: %s: %s: size %d too large", what, h.Name, h.Size)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("ipk: %s: %s: %w", what, h.Name, err)
		}
		e := Entry{
			Name: h.Name, Type: h.Typeflag, Mode: h.Mode, UID: h.Uid, GID: h.Gid,
			Uname: h.Uname, Gname: h.Gname, ModTime: h.ModTime.Unix(), Link: h.Linkname,
			Data: data, Format: h.Format,
		}
		if strings.HasSuffix(h.Name, ".gz") {
			if n, err := gunzipSize(data); err == nil {
				e.unpacked = n
			}
		}
		out = append(out, e)
	}
	if lr.N <= 0 {
		return nil, fmt.Errorf("ipk: %s: more than %d bytes unpacked", what, maxUnpacked)
	}
	return out, nil
}

func gunzipSize(data []byte) (int64, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return 0, err
	}
	return io.Copy(io.Discard, io.LimitReader(zr, maxUnpacked))
}
