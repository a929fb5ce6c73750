package ubus

import "testing"

// The control socket spells statuses by name; the names must round-trip.
func TestStatusNames(t *testing.T) {
	for s := StatusOK; s <= StatusSystemError; s++ {
		if got, ok := StatusByName(s.Name()); !ok || got != s {
			t.Errorf("%d: %s does not round-trip", s, s.Name())
		}
	}
	if got := Status(99).Name(); got != "STATUS_99" {
		t.Errorf("Status(99).Name() = %q", got)
	}
	if _, ok := StatusByName("NO_SUCH_STATUS"); ok {
		t.Error("an unknown name was accepted")
	}
}
