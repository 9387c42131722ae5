package directory

import "strings"

// FoldASCII is how identities compare (userName, emails, Git emails and
// logins, JIT domains): two spellings are one identity when they differ
// only in the case of the ASCII letters A–Z. Everything else is kept as
// is. Unicode case mapping is refused on purpose: it maps the Kelvin sign
// (U+212A) to "k", the Ångström sign (U+212B) to "å" and "İ" (U+0130) to
// "i", so an address an attacker can register at an IdP would equal an
// existing user's ASCII address. PostgreSQL's lower() does the same under
// most locales; SQL compares with ascii_lower() (migration 00018), which
// is this function.
func FoldASCII(s string) string {
	i := 0
	for i < len(s) && !('A' <= s[i] && s[i] <= 'Z') {
		i++
	}
	if i == len(s) {
		return s // the common case: nothing to fold, nothing to allocate
	}
	b := []byte(s)
	for ; i < len(b); i++ {
		if c := b[i]; 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// asciiSpace is what NormalizeEmail trims. Unicode spaces (U+00A0,
// U+2003…) are kept: trimming them would make a distinct address equal to
// an ASCII one, as folding would.
const asciiSpace = " \t\n\v\f\r"

// NormalizeEmail is an address as identities compare it: ASCII spaces
// trimmed, ASCII letters lower-cased (FoldASCII). Git keeps addresses as
// typed, and hosts treat them case-insensitively, so two spellings of one
// address are one identity.
func NormalizeEmail(s string) string {
	return FoldASCII(strings.Trim(s, asciiSpace))
}
