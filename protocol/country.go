package protocol

import (
	"fmt"
	"strings"
)

// CountryCode is a State Party's ISO 3166-1 alpha-2 code, upper case: how
// the roster, the config and every request name a point of contact.
type CountryCode string

// Valid reports whether c is two upper-case ASCII letters.
func (c CountryCode) Valid() bool {
	return len(c) == 2 && c[0] >= 'A' && c[0] <= 'Z' && c[1] >= 'A' && c[1] <= 'Z'
}

// ParseCountryCode reads a country code as an operator types it ("de", "DE",
// " DE ") and refuses anything that is not two letters.
func ParseCountryCode(s string) (CountryCode, error) {
	c := CountryCode(strings.ToUpper(strings.TrimSpace(s)))
	if !c.Valid() {
		return "", fmt.Errorf("country code %q: want two letters (ISO 3166-1 alpha-2, e.g. DE)", s)
	}
	return c, nil
}

func (c CountryCode) String() string { return string(c) }
