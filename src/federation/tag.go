// Package federation makes a nuvol router one member of a community
// microcloud: it joins the community's serf cluster, publishes the node's
// services in the same `services` tag Cloudy nodes use, and keeps a
// directory of every service the community publishes, so that a search
// answers from memory.
package federation

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	stdbzip2 "compress/bzip2"

	"github.com/dsnet/compress/bzip2"
	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/memberlist"
)

// Service is one published service, as Cloudy's avahi-ps describes it. Every
// field is a string on the wire, the port included.
type Service struct {
	Type        string // s: service type, e.g. "kanban"
	Description string // d: Cloudy writes spaces as "_"
	Host        string // m: <uname -n>.<cloud>.local
	Address     string // i: the node's community IPv4 address
	Port        string // p
	Device      string // e: device or network name, "demo" by default
	Extra       string // t: attr=value pairs separated by spaces

	// Name is the local app's name. It is never sent: it lets the owner
	// see which of their apps did not fit in the tag.
	Name string
}

// TagName is the serf tag Cloudy keeps its published services in.
const TagName = "services"

// MaxTagBytes is serf's limit for all tags of a node together, as serf
// encodes them (memberlist's node meta limit).
const MaxTagBytes = memberlist.MetaMaxSize

// MaxInflated is how far a tag may inflate. A 512-byte bzip2 stream can
// expand to gigabytes; nothing honest comes near this.
const MaxInflated = 64 << 10

// maxServicesPerNode bounds what one peer can make us keep.
const maxServicesPerNode = 1024

// wireService is the JSON object Cloudy writes: seven short keys, all strings.
type wireService struct {
	S string `json:"s"`
	D string `json:"d"`
	M string `json:"m"`
	I string `json:"i"`
	P string `json:"p"`
	E string `json:"e"`
	T string `json:"t"`
}

func toWire(s Service) wireService {
	return wireService{S: s.Type, D: s.Description, M: s.Host, I: s.Address, P: s.Port, E: s.Device, T: s.Extra}
}

func marshalServices(svcs []Service) ([]byte, error) {
	w := make([]wireService, len(svcs))
	for i, s := range svcs {
		w[i] = toWire(s)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Cloudy's readers are shell and PHP: "<" must stay "<", not "\u003c".
	enc.SetEscapeHTML(false)
	if err := enc.Encode(w); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// compress writes a bzip2 stream with 100k blocks ("BZh1"), which every
// bzip2 reader reads like the command's default 900k ("BZh9"): a tag is a
// few hundred bytes, so the output differs only in that header digit, but
// a reader sizes its buffers from it: 400 KB instead of 3.6 MB on every
// peer that decodes our tag, routers included.
func compress(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	w, err := bzip2.NewWriter(&buf, &bzip2.WriterConfig{Level: 1})
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(b); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// encodeList is base64(bzip2(JSON)), as `bzip2 | base64 -w 0` writes it.
func encodeList(svcs []Service) (string, error) {
	j, err := marshalServices(svcs)
	if err != nil {
		return "", err
	}
	z, err := compress(j)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(z), nil
}

// TagsSize is the size of tags as serf puts them on the wire: a magic byte
// and the msgpack encoding of the map, with serf's own codec settings.
func TagsSize(tags map[string]string) int {
	var buf bytes.Buffer
	buf.WriteByte(255) // serf's tagMagicByte
	if err := codec.NewEncoder(&buf, &codec.MsgpackHandle{}).Encode(tags); err != nil {
		return MaxTagBytes + 1 // cannot happen for a string map; never "fits"
	}
	return buf.Len()
}

// EncodeTag encodes the longest prefix of svcs whose `services` tag, alone
// among the node's tags, stays within serf's 512 bytes. It returns the tag
// and how many services it holds; the rest did not fit.
func EncodeTag(svcs []Service) (tag string, fitted int, err error) {
	return encodePrefix(svcs, map[string]string{})
}

// encodePrefix is EncodeTag next to other tags that must also fit.
func encodePrefix(svcs []Service, others map[string]string) (string, int, error) {
	tags := make(map[string]string, len(others)+1)
	for k, v := range others {
		tags[k] = v
	}
	best, fitted := "", 0
	for n := 1; n <= len(svcs); n++ {
		tag, err := encodeList(svcs[:n])
		if err != nil {
			return "", 0, err
		}
		tags[TagName] = tag
		if TagsSize(tags) > MaxTagBytes {
			break
		}
		best, fitted = tag, n
	}
	return best, fitted, nil
}

// fitGreedy chooses, in the order given, every service that still fits
// next to the ones chosen before it and next to the other tags. A service
// too large for the tag does not stop smaller ones after it.
func fitGreedy(svcs []Service, others map[string]string) (tag string, in, out []Service, err error) {
	tags := make(map[string]string, len(others)+1)
	for k, v := range others {
		tags[k] = v
	}
	for _, s := range svcs {
		try := append(append([]Service(nil), in...), s)
		t, err := encodeList(try)
		if err != nil {
			return "", nil, nil, err
		}
		tags[TagName] = t
		if TagsSize(tags) > MaxTagBytes {
			out = append(out, s)
			continue
		}
		in, tag = try, t
	}
	return tag, in, out, nil
}

// ErrTooLarge is wrapped by DecodeTag when a tag inflates past MaxInflated.
var ErrTooLarge = errors.New("inflates past 64 KiB")

// DecodeTag reads a Cloudy `services` tag. It accepts what Cloudy's own
// readers accept: padded or unpadded standard base64, and JSON written
// with single quotes. An empty tag is an empty list.
func DecodeTag(tag string) ([]Service, error) {
	tag = strings.Map(func(r rune) rune {
		if r == ' ' || r == '\n' || r == '\r' || r == '\t' {
			return -1
		}
		return r
	}, tag)
	if tag == "" {
		return nil, nil
	}
	z, err := base64.StdEncoding.DecodeString(tag)
	if err != nil {
		z, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(tag, "="))
		if err != nil {
			return nil, fmt.Errorf("services tag: not base64: %v", err)
		}
	}
	j, err := inflate(z)
	if err != nil {
		return nil, err
	}
	return parseServices(j)
}

// inflate decompresses at most MaxInflated bytes: a bzip2 bomb stops here.
func inflate(z []byte) ([]byte, error) {
	r := stdbzip2.NewReader(bytes.NewReader(z))
	j, err := io.ReadAll(io.LimitReader(r, MaxInflated+1))
	if err != nil {
		return nil, fmt.Errorf("services tag: not bzip2: %v", err)
	}
	if len(j) > MaxInflated {
		return nil, fmt.Errorf("services tag: %w", ErrTooLarge)
	}
	return j, nil
}

func parseServices(j []byte) ([]Service, error) {
	var raw []map[string]json.RawMessage
	err := json.Unmarshal(j, &raw)
	if err != nil && bytes.IndexByte(j, '\'') >= 0 {
		// Older Cloudy writers quote with '; Cloudy's readers turn every
		// ' into " first. Only done when the JSON is not valid as it is,
		// so an apostrophe inside a valid string survives.
		err = json.Unmarshal(bytes.ReplaceAll(j, []byte("'"), []byte(`"`)), &raw)
	}
	if err != nil {
		return nil, fmt.Errorf("services tag: not a JSON array of objects: %v", err)
	}
	if len(raw) > maxServicesPerNode {
		return nil, fmt.Errorf("services tag: %d services, more than %d", len(raw), maxServicesPerNode)
	}
	svcs := make([]Service, 0, len(raw))
	for _, o := range raw {
		if o == nil {
			continue // a JSON null in the array
		}
		svcs = append(svcs, Service{
			Type: field(o, "s"), Description: field(o, "d"), Host: field(o, "m"),
			Address: field(o, "i"), Port: field(o, "p"), Device: field(o, "e"), Extra: field(o, "t"),
		})
	}
	return svcs, nil
}

// field reads one key. Cloudy writes strings; a number (a port written by
// hand) is kept as its text, anything else as empty.
func field(o map[string]json.RawMessage, key string) string {
	v, ok := o[key]
	if !ok {
		return ""
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(v, &n) == nil {
		return n.String()
	}
	return ""
}
