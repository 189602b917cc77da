package protocol_test

import (
	"testing"

	"github.com/vigil-network/vigil/protocol"
)

func TestParseCountryCode(t *testing.T) {
	for in, want := range map[string]protocol.CountryCode{"DE": "DE", "de": "DE", " fr ": "FR"} {
		if got, err := protocol.ParseCountryCode(in); err != nil || got != want {
			t.Errorf("ParseCountryCode(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "D", "DEU", "D1", "ÄÖ", "12"} {
		if got, err := protocol.ParseCountryCode(in); err == nil {
			t.Errorf("ParseCountryCode(%q) = %q, want an error", in, got)
		}
	}
	if protocol.CountryCode("de").Valid() {
		t.Error("lower case counts as valid; the roster and config store upper case")
	}
}
