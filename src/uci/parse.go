package uci

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
)

// Reasons libuci gives for a parse error, spelled exactly as libuci spells
// them, so that a ParseError can be compared with the output of the real
// `uci` (see testdata/README.md).
const (
	ReasonInvalidCommand   = "invalid command"
	ReasonInsufficientArgs = "insufficient arguments"
	ReasonTooManyArgs      = "too many arguments"
	ReasonInvalidName      = "invalid character in name field"
	ReasonInvalidType      = "invalid character in type field"
	ReasonUntermSingle     = "EOF with unterminated '"
	ReasonUntermDouble     = "EOF with unterminated \""
	ReasonBeforeSection    = "option/list command found before the first section"
	ReasonTypeMismatch     = "section of different type overwrites prior section with same name"
	ReasonPackageNoName    = "package without name"
	ReasonConfigNoName     = "config without name"
	ReasonOptionNoName     = "option without name"
	// ReasonNUL is ours: libuci silently mangles lines that hold a NUL byte.
	ReasonNUL = "NUL byte"
)

// ParseError says where and why a file did not parse.
//
// Line is the 1-based line a person would look at (for an unterminated
// quote, the line where the quote opened). UCILine and UCIByte are the
// numbers libuci prints in "Parse error (reason) at line L, byte B"; they
// follow libuci's own counting rules and exist for conformance tests.
type ParseError struct {
	File    string
	Line    int
	Reason  string // one of the Reason constants
	Token   string // the offending word or name, when there is one
	UCILine int
	UCIByte int
}

func (e *ParseError) Error() string {
	var msg string
	switch e.Reason {
	case ReasonUntermSingle, ReasonUntermDouble:
		msg = "unterminated quote"
	case ReasonInvalidCommand:
		msg = fmt.Sprintf("invalid command %q", e.Token)
	case ReasonTooManyArgs:
		msg = fmt.Sprintf("too many arguments (%q)", e.Token)
	case ReasonInvalidName:
		msg = fmt.Sprintf("invalid name %q (only letters, digits and _)", e.Token)
	case ReasonInvalidType:
		msg = fmt.Sprintf("invalid section type %q", e.Token)
	case ReasonBeforeSection:
		msg = "option or list before the first config section"
	case ReasonTypeMismatch:
		msg = fmt.Sprintf("section %q declared again with another type", e.Token)
	default:
		msg = e.Reason
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, msg)
}

// Parse reads a UCI file the way libuci loads a package by name (strict
// mode): the first error stops the parse and is returned as a *ParseError.
// name is the package name, normally the file's base name; `package`
// statements inside the file are checked but otherwise ignored, as libuci
// ignores them when it loads a file by name.
//
// The parser follows libuci's tokenizer byte for byte, including its odd
// corners (a `;` glued to an unquoted word swallows the rest of the line,
// `\`-continuations splice lines exactly), because a file must mean the same
// thing to nuvol as it does to `uci`. Comments are kept and attached to the
// section or option that follows them.
func Parse(name string, r io.Reader) (*File, error) {
	var buf bytes.Buffer
	if l, ok := r.(interface{ Len() int }); ok {
		buf.Grow(l.Len() + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, err
	}
	return parseBytes(name, buf.Bytes())
}

func parseBytes(name string, data []byte) (f *File, err error) {
	p := &parser{name: name, data: data, f: &File{Package: name}, byName: map[string]*Section{}, names: map[string]string{}}
	if i := bytes.IndexByte(data, 0); i >= 0 {
		line := bytes.Count(data[:i], []byte{'\n'})
		return nil, &ParseError{File: name, Line: line + 1, Reason: ReasonNUL, UCILine: line, UCIByte: i - (bytes.LastIndexByte(data[:i], '\n') + 1)}
	}
	// libuci leaves a parse error with longjmp from deep in its
	// tokenizer; this port does the same with a panic of *ParseError,
	// recovered here, which keeps it line for line comparable with C.
	// Any other panic is a bug and goes on up (the fuzz test looks).
	defer func() {
		if r := recover(); r != nil {
			pe, ok := r.(*ParseError)
			if !ok {
				panic(r)
			}
			f, err = nil, pe
		}
	}()
	for p.rest < len(p.data) {
		p.pos = 0
		p.getln(0)
		if p.char(0) != 0 {
			p.parseLine()
		}
	}
	p.f.Comments = append(p.f.Comments, p.pending...)
	return p.f, nil
}

// parser mirrors libuci's parse context: one growable buffer holding the
// current logical line (a statement and any physical lines spliced onto it
// by quotes or continuations), tokenised in place.
type parser struct {
	name string
	data []byte
	rest int // offset in data of the next physical line

	buf  []byte // libuci's buffer; a 0 byte ends a string, as in C
	pos  int
	line int // libuci's line counter
	phys int // physical lines read so far
	segs []seg

	f       *File
	sec     *Section
	byName  map[string]*Section // sections by name, to merge repeated names
	names   map[string]string
	slab    []optSlot
	pending []string // comment lines waiting for the next section or option
	// last is what a trailing comment on this line belongs to.
	lastSec *Section
	lastOpt *Option
	lastIdx int
	// inStmt is set while a statement's arguments are read, and
	// stmtComment holds a comment found among them.
	inStmt      bool
	stmtComment string
}

// seg records where a physical line starts inside buf, to turn a buffer
// offset back into a line number for error messages.
type seg struct{ start, line int }

func (p *parser) char(i int) byte {
	if i < 0 || i >= len(p.buf) {
		return 0
	}
	return p.buf[i]
}

func (p *parser) cur() byte { return p.char(p.pos) }

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// getln appends the next physical line at offset, overwriting what was
// there, like libuci's uci_getln.
func (p *parser) getln(offset int) {
	if offset > len(p.buf) {
		offset = len(p.buf)
	}
	if offset < len(p.buf) {
		p.buf[offset] = 0
	}
	if p.rest >= len(p.data) {
		return
	}
	end := bytes.IndexByte(p.data[p.rest:], '\n')
	if end < 0 {
		end = len(p.data)
	} else {
		end += p.rest + 1
	}
	line := p.data[p.rest:end]
	p.rest = end
	p.buf = append(p.buf[:offset], line...)
	p.phys++
	for len(p.segs) > 0 && p.segs[len(p.segs)-1].start >= offset {
		p.segs = p.segs[:len(p.segs)-1]
	}
	p.segs = append(p.segs, seg{offset, p.phys})
	if line[len(line)-1] == '\n' {
		p.line++
	}
}

func (p *parser) lineAt(pos int) int {
	l := p.phys
	for i := len(p.segs) - 1; i >= 0; i-- {
		if p.segs[i].start <= pos {
			return p.segs[i].line
		}
	}
	if l == 0 {
		l = 1
	}
	return l
}

func (p *parser) fail(reason, token string) {
	p.failAt(p.lineAt(p.pos), reason, token)
}

func (p *parser) failAt(line int, reason, token string) {
	if line == 0 {
		line = 1
	}
	panic(&ParseError{File: p.name, Line: line, Reason: reason, Token: token, UCILine: p.line, UCIByte: p.pos})
}

// backslash handles `\`: at the end of a line it splices the next line
// in (and returns false), otherwise the next byte is taken literally.
func (p *parser) backslash() bool {
	p.pos++
	c := p.cur()
	if c == 0 || c == '\n' || (c == '\r' && p.char(p.pos+1) == '\n' && p.char(p.pos+2) == 0) {
		p.getln(p.pos)
		return false
	}
	return true
}

func (p *parser) skipSpace() {
	for c := p.cur(); c != 0 && isSpace(c); c = p.cur() {
		p.pos++
	}
}

func (p *parser) addc(target *int) {
	p.buf[*target] = p.buf[p.pos]
	*target++
	p.pos++
}

func (p *parser) doubleQuote(target *int) {
	open := p.lineAt(p.pos)
	p.pos++
	for {
		switch p.cur() {
		case '"':
			p.pos++
			return
		case 0:
			p.getln(p.pos)
			if p.cur() == 0 {
				p.failAt(open, ReasonUntermDouble, "")
			}
		case '\\':
			if !p.backslash() {
				continue
			}
			p.addc(target)
		default:
			p.addc(target)
		}
	}
}

func (p *parser) singleQuote(target *int) {
	open := p.lineAt(p.pos)
	p.pos++
	for {
		switch p.cur() {
		case '\'':
			p.pos++
			return
		case 0:
			p.getln(p.pos)
			if p.cur() == 0 {
				p.failAt(open, ReasonUntermSingle, "")
			}
		default:
			p.addc(target)
		}
	}
}

// comment records the comment that starts at pos and runs to the end of
// the buffer (the rest of the last physical line).
func (p *parser) comment(pos int) {
	end := bytes.IndexByte(p.buf[pos:], 0)
	if end < 0 {
		end = len(p.buf)
	} else {
		end += pos
	}
	text := string(trimEOL(p.buf[pos:end]))
	if p.inStmt {
		// It belongs to the statement being read; attach it once
		// the statement has been applied.
		p.stmtComment = text
		return
	}
	p.attachComment(text)
}

func (p *parser) attachComment(text string) {
	switch {
	case p.lastOpt != nil:
		o := p.lastOpt
		for len(o.Trailing) <= p.lastIdx {
			o.Trailing = append(o.Trailing, "")
		}
		if o.Trailing[p.lastIdx] == "" {
			o.Trailing[p.lastIdx] = text
		} else {
			o.Trailing[p.lastIdx] += " " + text
		}
	case p.lastSec != nil:
		if p.lastSec.Trailing == "" {
			p.lastSec.Trailing = text
		} else {
			p.lastSec.Trailing += " " + text
		}
	default:
		p.pending = append(p.pending, text)
	}
}

func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte{'\n'})
	return bytes.TrimRight(b, "\r")
}

// str reads one argument into the buffer at *target (libuci's parse_str).
func (p *parser) str(target *int) {
	next := true
loop:
	for {
		switch p.cur() {
		case '\'':
			p.singleQuote(target)
		case '"':
			p.doubleQuote(target)
		case '#':
			p.comment(p.pos)
			p.buf[p.pos] = 0
			break loop
		case 0:
			break loop
		case ';':
			next = false
			break loop
		case '\\':
			if p.backslash() {
				p.addc(target)
			}
		default:
			p.addc(target)
		}
		if c := p.cur(); c == 0 || isSpace(c) {
			break
		}
	}
	if p.cur() != 0 && next {
		p.pos++
	}
	if *target < len(p.buf) {
		p.buf[*target] = 0
	}
}

type nameKind int

const (
	anyText  nameKind = iota
	typeText          // like anyText, but interned
	elemName
	pkgName
)

// nextArg reads the next argument (libuci's next_arg).
func (p *parser) nextArg(required bool, kind nameKind) string {
	p.skipSpace()
	val := p.pos
	var tok string
	if p.cur() == ';' {
		p.buf[p.pos] = 0
		p.pos++
	} else {
		target := p.pos
		p.str(&target)
		if kind == anyText {
			tok = string(p.buf[val:target])
		} else {
			tok = p.intern(p.buf[val:target])
		}
	}
	if tok == "" {
		if required {
			p.fail(ReasonInsufficientArgs, "")
		}
		return ""
	}
	if (kind == elemName || kind == pkgName) && !validStr(tok, true, kind == pkgName) {
		p.fail(ReasonInvalidName, tok)
	}
	return tok
}

func (p *parser) assertEOL() {
	p.skipSpace()
	if tok := p.nextArg(false, anyText); tok != "" {
		p.fail(ReasonTooManyArgs, tok)
	}
}

// skipKeyword moves past the keyword that strtok terminated, as libuci's
// uci_increase_pos(strlen(cur)+1) does.
func (p *parser) skipKeyword(reason string) {
	n := bytes.IndexByte(p.buf[p.pos:], 0)
	if n < 0 {
		n = len(p.buf) - p.pos
	}
	if p.pos+n+1 > len(p.buf) {
		p.fail(reason, "")
	}
	p.pos += n + 1
}

func (p *parser) parseLine() {
	p.lastSec, p.lastOpt = nil, nil
	p.skipSpace()
	for {
		// strtok(cur, " \t")
		i := p.pos
		for c := p.char(i); c == ' ' || c == '\t'; c = p.char(i) {
			i++
		}
		if p.char(i) == 0 {
			return
		}
		if p.char(i) == '#' {
			p.comment(i)
			return
		}
		j := i
		for c := p.char(j); c != 0 && c != ' ' && c != '\t'; c = p.char(j) {
			j++
		}
		word := p.buf[i:j]
		p.inStmt, p.stmtComment = true, ""
		switch string(word) {
		case "p", "package":
			p.terminate(j)
			p.skipKeyword(ReasonPackageNoName)
			p.nextArg(true, pkgName)
			p.assertEOL()
		case "c", "config":
			p.terminate(j)
			p.parseConfig()
		case "o", "option":
			p.terminate(j)
			p.parseOption(false)
		case "l", "list":
			p.terminate(j)
			p.parseOption(true)
		default:
			p.fail(ReasonInvalidCommand, string(word))
		}
		p.inStmt = false
		if p.stmtComment != "" {
			p.attachComment(p.stmtComment)
		}
	}
}

// terminate ends the keyword in place, as strtok does.
func (p *parser) terminate(j int) {
	if j < len(p.buf) {
		p.buf[j] = 0
	}
}

func (p *parser) parseConfig() {
	p.skipKeyword(ReasonConfigNoName)
	typ := p.nextArg(true, typeText)
	if !ValidType(typ) {
		p.fail(ReasonInvalidType, typ)
	}
	name := p.nextArg(false, elemName)
	p.assertEOL()
	f := p.f
	var s *Section
	if name == "" {
		s = f.newSection(typ, "")
	} else if s = p.byName[name]; s != nil {
		if s.Type != typ {
			p.fail(ReasonTypeMismatch, name)
		}
	} else {
		s = f.newSection(typ, name)
	}
	if s.Options == nil {
		s.Options = make([]*Option, 0, 8)
	}
	if _, seen := p.byName[s.Name]; !seen {
		// The first section with a name wins lookups, as in libuci.
		p.byName[s.Name] = s
	}
	s.Comments = append(s.Comments, p.pending...)
	p.pending = nil
	p.sec = s
	p.lastSec, p.lastOpt = s, nil
}

func (p *parser) parseOption(list bool) {
	if p.sec == nil {
		p.fail(ReasonBeforeSection, "")
	}
	p.skipKeyword(ReasonOptionNoName)
	name := p.nextArg(true, elemName)
	value := p.nextArg(false, anyText)
	p.assertEOL()
	s := p.sec
	o := s.Option(name)
	p.lastSec = nil
	switch {
	case list:
		if o == nil {
			o = p.newOption(name)
			o.IsList = true
			s.Options = append(s.Options, o)
		} else if !o.IsList {
			o.IsList = true
		}
		o.Values = append(o.Values, value)
		p.lastIdx = len(o.Values) - 1
	case value == "":
		// libuci: `option x ''` neither creates nor deletes anything.
		p.lastOpt = nil
		return
	case o == nil:
		o = p.newOption(name)
		o.Values = append(o.Values, value)
		s.Options = append(s.Options, o)
		p.lastIdx = 0
	default:
		o.IsList = false
		o.Values = append(o.Values[:0], value)
		if len(o.Trailing) > 1 {
			o.Trailing = o.Trailing[:1]
		}
		p.lastIdx = 0
	}
	o.Comments = append(o.Comments, p.pending...)
	p.pending = nil
	p.lastOpt = o
}

// optSlot holds an option and room for its first value, so that most
// options cost one allocation; slots are handed out from slabs.
type optSlot struct {
	o Option
	v [1]string
}

func (p *parser) newOption(name string) *Option {
	if len(p.slab) == 0 {
		p.slab = make([]optSlot, 64)
	}
	slot := &p.slab[0]
	p.slab = p.slab[1:]
	slot.o.Name = name
	slot.o.Values = slot.v[:0]
	return &slot.o
}

// intern shares the strings of names and types, which repeat in every
// section of a file.
func (p *parser) intern(b []byte) string {
	if v, ok := p.names[string(b)]; ok {
		return v
	}
	s := string(b)
	if len(p.names) < 1024 {
		p.names[s] = s
	}
	return s
}

// strtol-like parsing of the index in @type[index]: leading white space,
// an optional sign, digits. An empty index is 0, as with strtol.
func parseIndex(s string) (int, bool) {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	if i == len(s) {
		return 0, s == ""
	}
	n, err := strconv.ParseInt(s[i:], 10, 32)
	if err != nil {
		return 0, false
	}
	return int(n), true
}
