package ipk

import (
	"bytes"
	"os"
	"testing"
)

// BenchmarkBuild packs a real executable (this test binary, several MB of
// machine code, like nuvol's) into an .ipk; gzip dominates.
func BenchmarkBuild(b *testing.B) {
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	bin, err := os.ReadFile(exe)
	if err != nil {
		b.Fatal(err)
	}
	p := samplePackage()
	p.Files[0].Data = bin
	b.SetBytes(int64(len(bin)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Build(epoch); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRead reads such a package back as the tests and opkg do.
func BenchmarkRead(b *testing.B) {
	exe, _ := os.Executable()
	bin, err := os.ReadFile(exe)
	if err != nil {
		b.Fatal(err)
	}
	p := samplePackage()
	p.Files[0].Data = bin
	raw, err := p.Build(epoch)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Read(bytes.NewReader(raw)); err != nil {
			b.Fatal(err)
		}
	}
}
