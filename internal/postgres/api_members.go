package postgres

import "context"

// UserNames maps the ids of users of the organization to their userNames,
// in one query, for listings that name many users (role bindings, token
// owners). Ids that are malformed or name no user are left out.
func (db *DB) UserNames(ctx context.Context, orgID string, ids []string) (map[string]string, error) {
	valid := make([]string, 0, len(ids))
	for _, id := range ids {
		if isUUID(id) {
			valid = append(valid, id)
		}
	}
	out := make(map[string]string, len(valid))
	if len(valid) == 0 {
		return out, nil
	}
	rows, err := db.Pool.Query(ctx, `SELECT id::text, user_name FROM users WHERE org_id = $1 AND id = ANY($2::uuid[])`, orgID, valid)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id, name string
		if err := rows.Scan(&id, &name); err != nil {
			return nil, err
		}
		out[id] = name
	}
	return out, rows.Err()
}
