package postgres_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/scimbridge/scimbridge/internal/pgtest"
)

// citusBlockers are the parts of today's schema that Citus would refuse
// when distributing every tenant table by org_id (docs/operations.md,
// "Past one primary: Citus"). Each needs a migration before the schema
// can be distributed; the list is exact, so that a fix must take its line
// out (and the docs' with it) and a new migration cannot add one unseen.
var citusBlockers = []string{
	`breakglass_links: unique index breakglass_links_token_idx does not include org_id`,
	`git_identities: foreign key git_identities_org_id_user_id_fkey includes org_id and sets null on delete`,
	`invitations: unique index invitations_token_key does not include org_id`,
}

// localTables stay on the coordinator, outside Citus.
var localTables = []string{"goose_db_version"}

type fkey struct {
	name, table, refTable string
	cols, refCols         []string
	onDelete, onUpdate    string // pg_constraint's confdeltype, confupdtype
}

// citusPlan reads the migrated schema and works out, as Citus would, how
// it distributes: tables with org_id are distributed by it, co-located;
// tables without it are reference tables (copied to every node). It
// returns the SQL that does it, in an order Citus accepts (a table after
// the tables its foreign keys reference), and what Citus would refuse.
func citusPlan(t *testing.T, conn *pgx.Conn) (sql string, blockers []string) {
	t.Helper()
	ctx := context.Background()
	rows, err := conn.Query(ctx, `
		SELECT c.relname,
		       COALESCE((SELECT a.attnotnull FROM pg_attribute a
		                 WHERE a.attrelid = c.oid AND a.attname = 'org_id' AND NOT a.attisdropped), false),
		       EXISTS (SELECT 1 FROM pg_attribute a
		               WHERE a.attrelid = c.oid AND a.attname = 'org_id' AND NOT a.attisdropped)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
		ORDER BY c.relname`)
	if err != nil {
		t.Fatal(err)
	}
	distributed := map[string]bool{}
	var reference []string
	for rows.Next() {
		var name string
		var notNull, has bool
		if err := rows.Scan(&name, &notNull, &has); err != nil {
			t.Fatal(err)
		}
		switch {
		case slices.Contains(localTables, name):
		case has:
			distributed[name] = true
			if !notNull {
				blockers = append(blockers, name+": org_id may be null (a distribution column may not)")
			}
		default:
			reference = append(reference, name)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}

	// Unique indexes (primary keys among them) of distributed tables must
	// include the distribution column as a column, not inside an
	// expression.
	rows, err = conn.Query(ctx, `
		SELECT t.relname, i.relname, x.indisprimary,
		       EXISTS (SELECT 1 FROM pg_attribute a
		               WHERE a.attrelid = t.oid AND a.attname = 'org_id' AND a.attnum = ANY (x.indkey::int2[]))
		FROM pg_index x
		JOIN pg_class i ON i.oid = x.indexrelid
		JOIN pg_class t ON t.oid = x.indrelid
		JOIN pg_namespace n ON n.oid = t.relnamespace
		WHERE n.nspname = 'public' AND x.indisunique
		ORDER BY t.relname, i.relname`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var table, index string
		var primary, hasOrg bool
		if err := rows.Scan(&table, &index, &primary, &hasOrg); err != nil {
			t.Fatal(err)
		}
		if distributed[table] && !hasOrg {
			what := "unique index"
			if primary {
				what = "primary key"
			}
			blockers = append(blockers, fmt.Sprintf("%s: %s %s does not include org_id", table, what, index))
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}

	// Foreign keys.
	rows, err = conn.Query(ctx, `
		SELECT c.conname, t.relname, r.relname,
		       ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
		             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i),
		       ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, i)
		             JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i),
		       c.confdeltype::text, c.confupdtype::text
		FROM pg_constraint c
		JOIN pg_class t ON t.oid = c.conrelid
		JOIN pg_class r ON r.oid = c.confrelid
		JOIN pg_namespace n ON n.oid = t.relnamespace
		WHERE n.nspname = 'public' AND c.contype = 'f'
		ORDER BY t.relname, c.conname`)
	if err != nil {
		t.Fatal(err)
	}
	var fks []fkey
	for rows.Next() {
		var f fkey
		if err := rows.Scan(&f.name, &f.table, &f.refTable, &f.cols, &f.refCols, &f.onDelete, &f.onUpdate); err != nil {
			t.Fatal(err)
		}
		fks = append(fks, f)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	refs := map[string][]string{} // distributed table → distributed tables it references
	for _, f := range fks {
		orgAt := slices.Index(f.cols, "org_id")
		switch {
		case !distributed[f.table] && distributed[f.refTable]:
			blockers = append(blockers, fmt.Sprintf("%s: foreign key %s from a reference table to a distributed one", f.table, f.name))
		case distributed[f.table] && distributed[f.refTable]:
			// Both sides on the same shard: the key pairs org_id with org_id.
			if orgAt < 0 || f.refCols[orgAt] != "org_id" {
				blockers = append(blockers, fmt.Sprintf("%s: foreign key %s does not pair org_id with %s.org_id", f.table, f.name, f.refTable))
			}
			if f.table != f.refTable {
				refs[f.table] = append(refs[f.table], f.refTable)
			}
		}
		if distributed[f.table] && orgAt >= 0 {
			// Citus will not let a cascade null or change the distribution
			// column: it refuses SET NULL / SET DEFAULT on delete, even
			// with a column list that leaves org_id alone, and any action
			// but NO ACTION / RESTRICT on update.
			if f.onDelete == "n" || f.onDelete == "d" {
				blockers = append(blockers, fmt.Sprintf("%s: foreign key %s includes org_id and sets null on delete", f.table, f.name))
			}
			if f.onUpdate != "a" && f.onUpdate != "r" {
				blockers = append(blockers, fmt.Sprintf("%s: foreign key %s includes org_id and acts on update", f.table, f.name))
			}
		}
	}

	// The SQL, referenced tables first. Tables distributed by columns of
	// one type (uuid) with the same shard count share Citus' default
	// co-location group: a tenant's rows of every table on one node.
	var b strings.Builder
	b.WriteString("-- Reference tables: copied to every node.\n")
	for _, r := range reference {
		fmt.Fprintf(&b, "SELECT create_reference_table('%s');\n", r)
	}
	b.WriteString("-- Every tenant table by org_id, co-located (Citus' default for one column type).\n")
	done := map[string]bool{}
	for len(done) < len(distributed) {
		var ready []string
		for d := range distributed {
			if done[d] {
				continue
			}
			ok := true
			for _, r := range refs[d] {
				if !done[r] {
					ok = false
				}
			}
			if ok {
				ready = append(ready, d)
			}
		}
		if len(ready) == 0 {
			t.Fatalf("foreign keys between distributed tables form a cycle among %v", distributed)
		}
		slices.Sort(ready)
		for _, d := range ready {
			fmt.Fprintf(&b, "SELECT create_distributed_table('%s', 'org_id');\n", d)
			done[d] = true
		}
	}
	return b.String(), blockers
}

// DESIGN.md §7: past one primary, Citus distributes every table by org_id
// with no change to the code, which the tenancy rules make possible:
// every tenant table has org_id, and every primary key, unique index and
// foreign key includes it. This checks the migrated schema against the
// conditions Citus sets (Citus itself is not installed here), holds the
// known exceptions to an exact list, and holds docs/operations.md to the
// create_distributed_table calls the schema needs.
func TestSchemaCanBeDistributedByOrganization(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	sql, blockers := citusPlan(t, conn)
	slices.Sort(blockers)
	for _, b := range blockers {
		if !slices.Contains(citusBlockers, b) {
			t.Errorf("Citus would refuse: %s", b)
		}
	}
	for _, b := range citusBlockers {
		if !slices.Contains(blockers, b) {
			t.Errorf("no longer in the way of Citus (take it out of citusBlockers and docs/operations.md): %s", b)
		}
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), sql) {
		t.Errorf("docs/operations.md does not hold the calls that distribute today's schema; they are:\n%s", sql)
	}
	// The reading of the catalog finds each kind of table Citus refuses.
	if _, err := conn.Exec(ctx, `
		CREATE TABLE citus_probe (
			org_id uuid, id uuid PRIMARY KEY, email text, user_id uuid,
			FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE SET NULL (user_id),
			CONSTRAINT citus_probe_swapped FOREIGN KEY (user_id, org_id) REFERENCES users (org_id, id));
		CREATE UNIQUE INDEX citus_probe_email ON citus_probe (lower(email), (org_id::text));
		CREATE TABLE citus_probe_ref (id int PRIMARY KEY, org uuid, uid uuid,
			CONSTRAINT citus_probe_ref_user FOREIGN KEY (org, uid) REFERENCES users (org_id, id))`); err != nil {
		t.Fatal(err)
	}
	_, probed := citusPlan(t, conn)
	for _, want := range []string{
		"citus_probe: org_id may be null (a distribution column may not)",
		"citus_probe: primary key citus_probe_pkey does not include org_id",
		"citus_probe: unique index citus_probe_email does not include org_id",
		"citus_probe: foreign key citus_probe_org_id_user_id_fkey includes org_id and sets null on delete",
		"citus_probe: foreign key citus_probe_swapped does not pair org_id with users.org_id",
		"citus_probe_ref: foreign key citus_probe_ref_user from a reference table to a distributed one",
	} {
		if !slices.Contains(probed, want) {
			t.Errorf("the check misses %q; it found %q", want, probed)
		}
	}

	for _, b := range citusBlockers {
		// "table: unique index NAME …" or "table: foreign key NAME …"
		m := regexp.MustCompile(`(?:index|key) (\S+)`).FindStringSubmatch(b)
		if m == nil || !strings.Contains(string(doc), "`"+m[1]+"`") {
			t.Errorf("docs/operations.md does not name the blocker %q", b)
		}
	}
}
