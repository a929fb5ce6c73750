// Package uci reads, edits and writes OpenWrt UCI configuration files
// (/etc/config/*) exactly as libuci and the `uci` command do.
//
// A File parsed by this package means what it means to `uci`: the same
// sections, options and values, the same generated names for anonymous
// sections (cfgNNHHHH), the same @type[i] addressing. Bytes returns the
// text `uci export` prints; Commit writes what `uci commit` writes (plus
// any comments the file had, which libuci would drop) with the same
// locking, atomically.
//
// Values are plain strings, as in libuci. ParseBool interprets them the
// way OpenWrt's shell library does.
package uci

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// File is one UCI package: one file under /etc/config.
type File struct {
	Package  string
	Sections []*Section
	// Comments are comment lines after the last section.
	Comments []string

	// created counts sections created so far, libuci's n_section: it
	// numbers anonymous sections and never goes down.
	created int
}

// Section is one `config TYPE ['NAME']` block. An anonymous section has a
// generated name (cfgNNHHHH) that is never written to the file.
type Section struct {
	Type, Name string
	Anonymous  bool
	Options    []*Option
	// Comments are the comment lines just before the config line;
	// Trailing is a comment at the end of the config line.
	Comments []string
	Trailing string
}

// Option is an `option` (one value) or a `list` (IsList, any number of
// values, which may be empty strings).
type Option struct {
	Name   string
	Values []string
	IsList bool
	// Comments are the comment lines before the option; Trailing[i] is
	// the comment at the end of the line of Values[i].
	Comments []string
	Trailing []string
}

// Errors returned by the edit API.
var (
	ErrNotFound = errors.New("not found")
	ErrInvalid  = errors.New("invalid argument")
	ErrExists   = errors.New("already exists")
)

// ValidName reports whether s is valid as a section or option name for
// libuci: one or more ASCII letters, digits or underscores.
func ValidName(s string) bool { return validStr(s, true, false) }

// ValidType reports whether s is valid as a section type for libuci: one
// or more printable ASCII bytes other than space.
func ValidType(s string) bool { return validStr(s, false, false) }

// ValidValue reports whether the `uci` command would accept s as a value:
// no control bytes other than tab, newline and carriage return.
func ValidValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 32 && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

// validStr is libuci's uci_validate_str.
func validStr(s string, name, pkg bool) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' {
			continue
		}
		if c == '-' && pkg {
			continue
		}
		if name || c < 33 || c > 126 {
			return false
		}
	}
	return true
}

// anonName is the name libuci gives the n-th section created in a package
// when it is anonymous: "cfg", n as %02x, and the low 16 bits of the djb2
// hash of the type. (libuci would hash options too, but a section has none
// when it is named.)
func anonName(n int, typ string) string {
	h := uint32(5381)
	for i := 0; i < len(typ); i++ {
		h = h*33 + uint32(typ[i])
	}
	h &= 0x7fffffff
	return fmt.Sprintf("cfg%02x%04x", n, h%(1<<16))
}

func (f *File) newSection(typ, name string) *Section {
	f.created++
	s := &Section{Type: typ, Name: name}
	if name == "" {
		s.Anonymous = true
		s.Name = anonName(f.created, typ)
	}
	f.Sections = append(f.Sections, s)
	return s
}

// lookup finds a section by its (possibly generated) name.
func (f *File) lookup(name string) *Section {
	for _, s := range f.Sections {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Section returns the section called name, or addressed as @type[i] or
// @type[-i] (counting every section of that type in file order, named ones
// included; @[i] counts sections of any type), or nil.
func (f *File) Section(name string) *Section {
	if ValidName(name) {
		return f.lookup(name)
	}
	typ, idx, ok := parseExtended(name)
	if !ok {
		return nil
	}
	if idx < 0 {
		for _, s := range f.Sections {
			if typ == "" || s.Type == typ {
				idx++
			}
		}
	}
	for _, s := range f.Sections {
		if typ != "" && s.Type != typ {
			continue
		}
		if idx == 0 {
			return s
		}
		idx--
	}
	return nil
}

// parseExtended splits "@type[index]" as libuci's uci_lookup_ext_section.
func parseExtended(ref string) (typ string, idx int, ok bool) {
	if !strings.HasPrefix(ref, "@") {
		return "", 0, false
	}
	open := strings.IndexByte(ref, '[')
	if open < 0 {
		return "", 0, false
	}
	typ = ref[1:open]
	rest := ref[open+1:]
	close := strings.IndexByte(rest, ']')
	if close < 0 || close != len(rest)-1 {
		return "", 0, false
	}
	idx, ok = parseIndex(rest[:close])
	if !ok || (typ != "" && !ValidType(typ)) {
		return "", 0, false
	}
	return typ, idx, true
}

// Ref returns how `uci show` names s: its name, or @type[i] when it is
// anonymous.
func (f *File) Ref(s *Section) string {
	if !s.Anonymous {
		return s.Name
	}
	i := 0
	for _, t := range f.Sections {
		if t == s {
			return fmt.Sprintf("@%s[%d]", s.Type, i)
		}
		if t.Type == s.Type {
			i++
		}
	}
	return s.Name
}

// SectionsByType returns the sections of type typ in file order.
func (f *File) SectionsByType(typ string) []*Section {
	var out []*Section
	for _, s := range f.Sections {
		if s.Type == typ {
			out = append(out, s)
		}
	}
	return out
}

// Option returns the option called name, or nil.
func (s *Section) Option(name string) *Option {
	for _, o := range s.Options {
		if o.Name == name {
			return o
		}
	}
	return nil
}

// Get returns an option's value. For a list it returns the items joined
// by single spaces (as `uci get` does for simple items).
func (s *Section) Get(option string) (string, bool) {
	o := s.Option(option)
	if o == nil {
		return "", false
	}
	if !o.IsList {
		if len(o.Values) == 0 {
			return "", false
		}
		return o.Values[0], true
	}
	return strings.Join(o.Values, " "), true
}

// GetList returns a list's items, or a string option as a list of one.
func (s *Section) GetList(option string) []string {
	o := s.Option(option)
	if o == nil {
		return nil
	}
	if !o.IsList && len(o.Values) > 1 {
		return o.Values[:1]
	}
	return o.Values
}

// Set sets a string option as `uci set` does: it replaces a list, keeps the
// option's position, and an empty value deletes the option (a UCI file
// cannot hold an empty string option).
func (s *Section) Set(option, value string) error {
	if !ValidName(option) {
		return fmt.Errorf("option name %q: %w", option, ErrInvalid)
	}
	if !ValidValue(value) {
		return fmt.Errorf("value %q for option %q holds a control character: %w", value, option, ErrInvalid)
	}
	o := s.Option(option)
	switch {
	case value == "":
		s.Delete(option)
	case o == nil:
		s.Options = append(s.Options, &Option{Name: option, Values: []string{value}})
	default:
		o.IsList = false
		o.Values = append(o.Values[:0], value)
		if len(o.Trailing) > 1 {
			o.Trailing = o.Trailing[:1]
		}
	}
	return nil
}

// Delete removes an option; it reports whether there was one.
func (s *Section) Delete(option string) bool {
	for i, o := range s.Options {
		if o.Name == option {
			s.Options = append(s.Options[:i], s.Options[i+1:]...)
			return true
		}
	}
	return false
}

// AddList appends an item to a list, turning a string option into a list
// whose first item is the old value, as `uci add_list` does.
func (s *Section) AddList(option, value string) error {
	if !ValidName(option) {
		return fmt.Errorf("option name %q: %w", option, ErrInvalid)
	}
	if !ValidValue(value) {
		return fmt.Errorf("value %q for list %q holds a control character: %w", value, option, ErrInvalid)
	}
	o := s.Option(option)
	if o == nil {
		o = &Option{Name: option}
		s.Options = append(s.Options, o)
	}
	o.IsList = true
	o.Values = append(o.Values, value)
	return nil
}

// DelList removes every item equal to value, as `uci del_list` does. Like
// libuci it leaves an emptied list in place; it is not written to the file.
func (s *Section) DelList(option, value string) bool {
	o := s.Option(option)
	if o == nil || !o.IsList {
		return false
	}
	removed := false
	vals := o.Values[:0]
	var notes []string
	for i, v := range o.Values {
		if v == value {
			removed = true
			continue
		}
		vals = append(vals, v)
		if i < len(o.Trailing) {
			for len(notes) < len(vals)-1 {
				notes = append(notes, "")
			}
			notes = append(notes, o.Trailing[i])
		}
	}
	o.Values, o.Trailing = vals, notes
	return removed
}

func (f *File) section(name string) (*Section, error) {
	if s := f.Section(name); s != nil {
		return s, nil
	}
	return nil, fmt.Errorf("%s.%s: section %w", f.Package, name, ErrNotFound)
}

// Get returns the value of section.option (section may be @type[i]).
func (f *File) Get(section, option string) (string, bool) {
	s := f.Section(section)
	if s == nil {
		return "", false
	}
	return s.Get(option)
}

// GetList returns the items of the list section.option.
func (f *File) GetList(section, option string) []string {
	s := f.Section(section)
	if s == nil {
		return nil
	}
	return s.GetList(option)
}

// Set sets section.option to value as `uci set` does (see Section.Set).
// With option "" it sets the section's type, creating a named section when
// there is none, as `uci set pkg.section=type` does.
func (f *File) Set(section, option, value string) error {
	if option == "" {
		return f.setType(section, value)
	}
	s, err := f.section(section)
	if err != nil {
		return err
	}
	if err := s.Set(option, value); err != nil {
		return fmt.Errorf("%s.%s.%s: %w", f.Package, section, option, err)
	}
	return nil
}

func (f *File) setType(section, typ string) error {
	if !ValidType(typ) {
		return fmt.Errorf("%s.%s: section type %q: %w", f.Package, section, typ, ErrInvalid)
	}
	s := f.Section(section)
	if s == nil {
		if !ValidName(section) {
			return fmt.Errorf("%s.%s: section name: %w", f.Package, section, ErrInvalid)
		}
		f.newSection(typ, section)
		return nil
	}
	if s.Type != typ && len(s.Type) != len(typ) {
		// libuci re-allocates the section under its current name, which
		// makes an anonymous section named.
		s.Anonymous = false
	}
	s.Type = typ
	return nil
}

// AddSection appends a section of type typ. An empty name makes it
// anonymous: it gets a cfgNNHHHH name as `uci add` gives it.
func (f *File) AddSection(typ, name string) (*Section, error) {
	if !ValidType(typ) {
		return nil, fmt.Errorf("%s: section type %q: %w", f.Package, typ, ErrInvalid)
	}
	if name != "" {
		if !ValidName(name) {
			return nil, fmt.Errorf("%s: section name %q: %w", f.Package, name, ErrInvalid)
		}
		if f.lookup(name) != nil {
			return nil, fmt.Errorf("%s.%s: section %w", f.Package, name, ErrExists)
		}
	}
	return f.newSection(typ, name), nil
}

// DeleteSection removes a section; it reports whether there was one.
func (f *File) DeleteSection(name string) bool {
	s := f.Section(name)
	if s == nil {
		return false
	}
	for i, t := range f.Sections {
		if t == s {
			f.Sections = append(f.Sections[:i], f.Sections[i+1:]...)
			break
		}
	}
	return true
}

// Delete removes section.option; it reports whether there was one.
func (f *File) Delete(section, option string) bool {
	s := f.Section(section)
	return s != nil && s.Delete(option)
}

// AddList appends value to the list section.option.
func (f *File) AddList(section, option, value string) error {
	s, err := f.section(section)
	if err != nil {
		return err
	}
	if err := s.AddList(option, value); err != nil {
		return fmt.Errorf("%s.%s.%s: %w", f.Package, section, option, err)
	}
	return nil
}

// DelList removes every item equal to value from section.option.
func (f *File) DelList(section, option, value string) bool {
	s := f.Section(section)
	return s != nil && s.DelList(option, value)
}

// Rename gives a section a new name; an anonymous section becomes named,
// as with `uci rename`.
func (f *File) Rename(section, newName string) error {
	s, err := f.section(section)
	if err != nil {
		return err
	}
	if !ValidName(newName) {
		return fmt.Errorf("%s.%s: new name %q: %w", f.Package, section, newName, ErrInvalid)
	}
	if t := f.lookup(newName); t != nil && t != s {
		return fmt.Errorf("%s.%s: section %w", f.Package, newName, ErrExists)
	}
	s.Name = newName
	s.Anonymous = false
	return nil
}

// Reorder moves a section to index pos among all sections, as `uci
// reorder` does: a negative pos means the front, one past the end the end.
func (f *File) Reorder(section string, pos int) error {
	s, err := f.section(section)
	if err != nil {
		return err
	}
	for i, t := range f.Sections {
		if t == s {
			f.Sections = append(f.Sections[:i], f.Sections[i+1:]...)
			break
		}
	}
	pos = max(0, min(pos, len(f.Sections)))
	f.Sections = append(f.Sections, nil)
	copy(f.Sections[pos+1:], f.Sections[pos:])
	f.Sections[pos] = s
	return nil
}

// ParseBool interprets a value as OpenWrt's /lib/functions.sh get_bool
// does: 1, on, true, yes and enabled are true; 0, off, false, no and
// disabled are false; the match is exact and case-sensitive.
func ParseBool(s string) (bool, error) {
	switch s {
	case "1", "on", "true", "yes", "enabled":
		return true, nil
	case "0", "off", "false", "no", "disabled":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (1/0, yes/no, on/off, true/false, enabled/disabled)", s)
}

// Bool returns section.option as a boolean, or def when it is not set.
func (f *File) Bool(section, option string, def bool) (bool, error) {
	v, ok := f.Get(section, option)
	if !ok {
		return def, nil
	}
	b, err := ParseBool(v)
	if err != nil {
		return def, fmt.Errorf("%s.%s.%s: %w", f.Package, section, option, err)
	}
	return b, nil
}

// Int returns section.option as a base-10 integer, or def when it is not
// set.
func (f *File) Int(section, option string, def int) (int, error) {
	v, ok := f.Get(section, option)
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return def, fmt.Errorf("%s.%s.%s: %q is not an integer", f.Package, section, option, v)
	}
	return n, nil
}
