package directory

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzParseTTL: a lifetime is accepted only when positive; a day count only
// in its canonical spelling and within 100 years; an error is ErrInvalid.
// The oracle is the round trip, not a second parser: an accepted "Nd" is
// exactly the spelling of its whole days, and any other accepted lifetime
// reads back the same from its time.Duration spelling.
func FuzzParseTTL(f *testing.F) {
	for _, s := range []string{"90d", "1d", "36500d", "36501d", "0d", "-1d", "01d", "+3d", "1.5d", " 1d", "d",
		"12h", "30m", "1h30m", "-5m", "0s", "1ns", "2562047h", "9223372036854775807ns", "5x", "", "1e3d", "1_000d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseTTL(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParseTTL(%q): error %v is not ErrInvalid", s, err)
			}
			if d != 0 {
				t.Fatalf("ParseTTL(%q) = %v with an error", s, d)
			}
			return
		}
		if d <= 0 {
			t.Fatalf("ParseTTL(%q) = %v, not a positive lifetime", s, d)
		}
		if n, ok := strings.CutSuffix(s, "d"); ok {
			days := d / (24 * time.Hour)
			if d%(24*time.Hour) != 0 || days < 1 || days > 36500 {
				t.Fatalf("ParseTTL(%q) = %v, not 1 to 36500 whole days", s, d)
			}
			if want := strconv.FormatInt(int64(days), 10); n != want {
				t.Fatalf("ParseTTL(%q) = %v, but %v days are spelt %sd", s, d, int64(days), want)
			}
			return
		}
		again, err := ParseTTL(d.String())
		if err != nil || again != d {
			t.Fatalf("ParseTTL(%q) = %v, but ParseTTL(%q) = %v, %v", s, d, d.String(), again, err)
		}
	})
}
