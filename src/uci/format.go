package uci

import (
	"bytes"
	"strings"
)

// quote writes v in single quotes with each quote inside written as the
// four bytes quote, backslash, quote, quote (libuci's uci_escape). Every
// other byte is written raw.
func quote(b *bytes.Buffer, v string) {
	b.WriteByte('\'')
	escape(b, v)
	b.WriteByte('\'')
}

func escape(b *bytes.Buffer, v string) {
	for {
		i := strings.IndexByte(v, '\'')
		if i < 0 {
			b.WriteString(v)
			return
		}
		b.WriteString(v[:i])
		b.WriteString(`'\''`)
		v = v[i+1:]
	}
}

// Bytes returns the file as `uci export` prints it: a `package` line, then
// each section in canonical form. Comments are not part of it.
func (f *File) Bytes() []byte {
	var b bytes.Buffer
	b.WriteString("package ")
	escape(&b, f.Package)
	b.WriteByte('\n')
	f.write(&b, false)
	return b.Bytes()
}

// FileBytes returns what Commit writes: the text `uci commit` writes (no
// `package` line), with the file's comments kept in place. A file without
// comments gives exactly the bytes `uci commit` would write.
func (f *File) FileBytes() []byte {
	var b bytes.Buffer
	f.write(&b, true)
	return b.Bytes()
}

func (f *File) write(b *bytes.Buffer, comments bool) {
	for _, s := range f.Sections {
		b.WriteByte('\n')
		if comments {
			writeComments(b, "", s.Comments)
		}
		b.WriteString("config ")
		escape(b, s.Type)
		if !s.Anonymous {
			b.WriteByte(' ')
			quote(b, s.Name)
		}
		if comments {
			writeTrailing(b, s.Trailing)
		}
		b.WriteByte('\n')
		for _, o := range s.Options {
			if comments {
				writeComments(b, "\t", o.Comments)
			}
			kw := "\toption "
			vals := o.Values
			if o.IsList {
				kw = "\tlist "
			} else if len(vals) > 1 {
				vals = vals[:1]
			}
			for i, v := range vals {
				b.WriteString(kw)
				escape(b, o.Name)
				b.WriteByte(' ')
				quote(b, v)
				if comments && i < len(o.Trailing) {
					writeTrailing(b, o.Trailing[i])
				}
				b.WriteByte('\n')
			}
		}
	}
	if comments && len(f.Comments) > 0 {
		b.WriteByte('\n')
		writeComments(b, "", f.Comments)
	}
	b.WriteByte('\n')
}

// cleanComment makes c a single comment line that parses back as itself.
// It works on bytes: comments need not be UTF-8.
func cleanComment(c string) string {
	if strings.ContainsAny(c, "\n\x00") {
		b := []byte(c)
		n := 0
		for _, ch := range b {
			switch ch {
			case '\n':
				ch = ' '
			case 0:
				continue
			}
			b[n] = ch
			n++
		}
		c = string(b[:n])
	}
	// A CR before the line's end would be taken for part of a CRLF.
	c = strings.TrimRight(strings.TrimLeft(c, " \t\v\f"), "\r")
	if !strings.HasPrefix(c, "#") {
		c = "# " + c
	}
	return c
}

func writeComments(b *bytes.Buffer, indent string, cs []string) {
	for _, c := range cs {
		b.WriteString(indent)
		b.WriteString(cleanComment(c))
		b.WriteByte('\n')
	}
}

func writeTrailing(b *bytes.Buffer, c string) {
	if c == "" {
		return
	}
	b.WriteByte(' ')
	b.WriteString(cleanComment(c))
}

// Show returns the file as `uci show PACKAGE` prints it: anonymous sections
// as @type[i], values quoted, list items separated by a space. With
// realNames it prints cfgNNHHHH names instead, as `uci -X show` does.
func (f *File) Show(realNames bool) []byte {
	var b bytes.Buffer
	counts := map[string]int{}
	for _, s := range f.Sections {
		ref := s.Name
		if s.Anonymous && !realNames {
			ref = "@" + s.Type + "[" + itoa(counts[s.Type]) + "]"
		}
		counts[s.Type]++
		prefix := f.Package + "." + ref
		b.WriteString(prefix + "=" + s.Type + "\n")
		for _, o := range s.Options {
			b.WriteString(prefix + "." + o.Name + "=")
			vals := o.Values
			if !o.IsList && len(vals) > 1 {
				vals = vals[:1]
			}
			for i, v := range vals {
				if i > 0 {
					b.WriteByte(' ')
				}
				quote(&b, v)
			}
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var d [20]byte
	i := len(d)
	for n > 0 {
		i--
		d[i] = byte('0' + n%10)
		n /= 10
	}
	return string(d[i:])
}
