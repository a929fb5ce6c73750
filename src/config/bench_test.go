package config

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/nuvol-project/nuvol/src/uci"
)

// bigConfig is a file of 1,000 sections: the node and 999 apps with every
// option set, and a comment on each, as a heavily used node would have.
func bigConfig() []byte {
	var b strings.Builder
	b.WriteString("config nuvol 'main'\n\toption enabled '1'\n\tlist join '10.1.2.3:5000'\n\tlist join '10.1.2.4:5000'\n")
	for i := 1; i < 1000; i++ {
		fmt.Fprintf(&b, "\n# app %d\nconfig app 'app%d'\n\toption app 'static-web'\n\toption enabled '1'\n\toption publish '%d'\n"+
			"\toption port '%d'\n\toption memory '64'\n\toption cpu_weight '100'\n\toption description 'App number %d, it'\\''s fine'\n"+
			"\toption network 'host'\n", i, i, i%2, 10000+i, i)
	}
	return []byte(b.String())
}

func TestBigConfigValidates(t *testing.T) {
	f, err := uci.Parse("nuvol", strings.NewReader(string(bigConfig())))
	if err != nil {
		t.Fatal(err)
	}
	c, err := FromUCI(f)
	if err != nil || len(c.Apps) != 999 || len(f.Sections) != 1000 {
		t.Fatalf("%d sections, %v", len(f.Sections), err)
	}
}

func BenchmarkParseValidate1000(b *testing.B) {
	data := bigConfig()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		f, err := uci.Parse("nuvol", bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := FromUCI(f); err != nil {
			b.Fatal(err)
		}
	}
}
