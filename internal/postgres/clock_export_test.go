package postgres

import "time"

// SetNowForTest gives the store a clock, for the tests of package
// postgres_test that check times the store computes.
func SetNowForTest(db *DB, now func() time.Time) { db.now = now }
