package uci

import (
	"bytes"
	"fmt"
	"testing"
)

func benchText(sections int) []byte {
	var b bytes.Buffer
	for i := 0; i < sections; i++ {
		fmt.Fprintf(&b, "config app 'app%d'\n\toption app 'static-web'\n\toption port '%d'\n\toption description \"App %d, it's fine\"\n\tlist tag a\n\tlist tag b\n\n", i, 10000+i, i)
	}
	return b.Bytes()
}

func BenchmarkParse1000(b *testing.B) {
	data := benchText(1000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("nuvol", bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFormat1000(b *testing.B) {
	f, err := Parse("nuvol", bytes.NewReader(benchText(1000)))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		f.FileBytes()
	}
}
