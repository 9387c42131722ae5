package api_test

import (
	"context"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/internal/api"
	"github.com/scimbridge/scimbridge/internal/directory"
)

// An admin cannot take away their own Org Admin by one click: removing
// the mapping or the grant that is their only way to it, or removing
// themselves, needs ?confirm=self-lockout and says why; a change that
// leaves them another grant, or that touches someone else, needs none.
func TestRemovingYourOwnOrgAdminNeedsConfirmation(t *testing.T) {
	t.Parallel()
	tn := newEnv(t).tenant("acme")
	ann := tn.scimUser("ann@acme.test")
	tn.group("Platform-Admins", ann)
	mapping := tn.must(201, "POST", "/mappings", map[string]any{"role": "org-admin", "group": map[string]any{"value": "Platform-Admins"}})["id"].(string)
	asAnn := *tn
	asAnn.token = tn.tokenFor(ann, "ann")
	carl := tn.user("carl@acme.test", directory.SourceJIT)
	direct := tn.must(201, "POST", "/bindings", map[string]any{"role": "org-admin", "user": carl.ID})["id"].(string)
	asCarl := *tn
	asCarl.token = tn.tokenFor(carl, "carl")

	lockout := func(who *tenant, method, path string) {
		t.Helper()
		p := problem(t, who.do(method, path, nil), 409, "conflict")
		if d := str(p["detail"]); !strings.Contains(d, "takes away your own Org Admin") || !strings.Contains(d, "confirm="+api.ConfirmSelfLockout) {
			t.Fatalf("%s %s: %q", method, path, d)
		}
	}
	// Ann's only way to Org Admin is the mapping.
	lockout(&asAnn, "DELETE", "/mappings/"+mapping)
	lockout(&asAnn, "DELETE", "/bindings/"+mapping)
	asAnn.must(200, "GET", "/mappings", nil) // still admin, the mapping still there
	// Carl's only way is his direct grant; removing himself takes all.
	lockout(&asCarl, "DELETE", "/bindings/"+direct)
	lockout(&asCarl, "DELETE", "/users/"+carl.ID)
	lockout(&asCarl, "DELETE", "/users/"+strings.ToUpper(carl.ID))
	// Someone else's grant: no question asked (Ann removes Carl's).
	// First, give Carl a second grant: then his own removal of the first
	// leaves him admin and needs no confirmation either.
	second := tn.must(201, "POST", "/mappings", map[string]any{"role": "org-admin", "group": map[string]any{"value": "Carl-Admins"}})["id"].(string)
	if _, err := tn.db.Pool.Exec(context.Background(), `INSERT INTO login_groups (org_id, user_id, value) VALUES ($1, $2, 'Carl-Admins')`, tn.id, carl.ID); err != nil {
		t.Fatal(err)
	}
	asCarl.must(204, "DELETE", "/bindings/"+direct, nil)
	asCarl.must(200, "GET", "/mappings", nil)
	tn.must(204, "DELETE", "/mappings/"+second, nil) // the break-glass owner removes it
	// With the confirmation, Ann goes ahead and is out at once.
	asAnn.must(204, "DELETE", "/mappings/"+mapping+"?confirm="+api.ConfirmSelfLockout, nil)
	problem(t, asAnn.do("GET", "/mappings", nil), 403, "forbidden")
}
