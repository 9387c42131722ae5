package scim

import (
	"encoding/json"
	"fmt"
)

// maxUserDocument bounds the stored attributes of a user, as JSON. The
// count of values per attribute is bounded by the normaliser, but not
// their length: a user with one megabyte-long certificate made each PATCH
// operation with a value filter scan a megabyte under the row lock (1,000
// of them took five seconds). Real users, with enterprise attributes and
// a few certificates, take a few kilobytes.
const maxUserDocument = 64 << 10

// checkUserSize refuses attributes over maxUserDocument, unless they are
// no larger than what is stored (a user stored before the bound may
// shrink or change, not grow).
func checkUserSize(stored, next map[string]any) error {
	n, err := docSize(next)
	if err != nil {
		return err
	}
	if n <= maxUserDocument {
		return nil
	}
	if stored != nil {
		if m, err := docSize(stored); err == nil && n <= m {
			return nil
		}
	}
	return patchErrorf("invalidValue", "the user's attributes take %d bytes as JSON; at most %d are accepted", n, maxUserDocument)
}

func docSize(doc map[string]any) (int, error) {
	b, err := json.Marshal(doc)
	if err != nil {
		return 0, fmt.Errorf("measure user attributes: %w", err)
	}
	return len(b), nil
}
