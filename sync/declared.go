package sync

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/postgres"
)

// Declared service accounts (issue 6, job 4). The file, as a Kubernetes
// ConfigMap would mount it:
//
//	serviceAccounts:
//	  - name: ci-robot          # 1-100 characters, no spaces or @
//	    org: acme               # the organization's slug
//	    description: builds main   # optional
//	    owner: ann@acme.example     # optional: the userName of the person responsible
//	    bindings:               # optional; exactly these, no others
//	      - role: runner        # viewer, runner, editor, workspace-admin
//	        workspace: data-eng #   on a workspace (by name)
//	      - role: org-admin     # org-admin: on the organization, no workspace
//	    gitIdentities:          # optional; exactly these are mapped to it
//	      - provider: github    # github (default) or gitlab
//	        email: ci@acme.example   # an email, a login, or both
//	        login: acme-ci
//
// Unknown keys are errors, and so is an empty file ("serviceAccounts: []"
// declares none, and disables every declared account).

// declaredFile is a parsed, checked file.
type declaredFile struct {
	accounts []declaredAccount
}

type declaredAccount struct {
	line        int
	name        string
	org         string // slug
	orgID       string // resolved
	description string
	owner       string // userName as written; "" for none
	ownerLine   int
	ownerID     string // resolved
	bindings    []declaredBinding
	identities  []declaredIdentity
}

type declaredBinding struct {
	line        int
	role        directory.Role
	workspace   string // name as written; "" for org-wide
	workspaceID string // resolved
}

type declaredIdentity struct {
	line                   int
	provider, email, login string // normalised
}

func (g declaredIdentity) label() string {
	return g.provider + " " + strings.TrimSpace(g.email+" "+g.login)
}

// FileError is an invalid service accounts file: every problem found, each
// with its line.
type FileError struct {
	File     string
	Problems []LineError
}

// LineError is one problem of a file.
type LineError struct {
	Line   int
	Reason string
}

func (e *FileError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "service accounts file %s is invalid (nothing was changed):", e.File)
	for _, p := range e.Problems {
		fmt.Fprintf(&b, "\n  %s:%d: %s", e.File, p.Line, p.Reason)
	}
	return b.String()
}

func (e *FileError) add(line int, format string, args ...any) {
	e.Problems = append(e.Problems, LineError{Line: line, Reason: fmt.Sprintf(format, args...)})
}

// declaredLookup resolves the file's references.
type declaredLookup interface {
	orgID(ctx context.Context, slug string) (string, error)
	workspaceID(ctx context.Context, orgID, name string) (string, error)
	// user finds a user of any kind by userName. ErrNotFound: none.
	user(ctx context.Context, orgID, userName string) (directory.User, error)
}

// loadDeclared reads, parses and checks the file whole; a *FileError when
// it is invalid.
func loadDeclared(ctx context.Context, path string, look declaredLookup) (declaredFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return declaredFile{}, fmt.Errorf("service accounts file: %w", err)
	}
	f, ferr := parseDeclared(path, data)
	if ferr == nil {
		ferr = f.resolve(ctx, path, look)
	}
	if ferr != nil {
		var fe *FileError
		if errors.As(ferr, &fe) {
			slices.SortStableFunc(fe.Problems, func(a, b LineError) int { return cmp.Compare(a.Line, b.Line) })
		}
		return declaredFile{}, ferr
	}
	return f, nil
}

// parseDeclared checks the file's shape and values (not its references).
func parseDeclared(path string, data []byte) (declaredFile, error) {
	fe := &FileError{File: path}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		fe.add(yamlErrLine(err), "not YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
		return declaredFile{}, fe
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		fe.add(1, "the file is empty: want serviceAccounts: [...] (an empty list declares none)")
		return declaredFile{}, fe
	}
	var f declaredFile
	top := fields(fe, doc.Content[0], "the file", "serviceAccounts")
	list, ok := top["serviceAccounts"]
	switch {
	case top == nil:
	case !ok:
		fe.add(doc.Content[0].Line, "serviceAccounts is missing")
	case list.Kind != yaml.SequenceNode:
		fe.add(list.Line, "serviceAccounts: want a list")
	default:
		type key struct{ org, name string }
		names := map[key]int{}
		idents := map[string]int{} // org + identity → line
		for _, n := range list.Content {
			a, ok := parseAccount(fe, n)
			if !ok {
				continue
			}
			k := key{a.org, directory.FoldASCII(a.name)}
			if prev, dup := names[k]; dup {
				fe.add(a.line, "service account %q of %s is declared twice (also on line %d)", a.name, a.org, prev)
				continue
			}
			names[k] = a.line
			for _, g := range a.identities {
				ik := a.org + "\x00" + g.provider + "\x00" + g.email + "\x00" + g.login
				if prev, dup := idents[ik]; dup {
					fe.add(g.line, "git identity %s is declared twice (also on line %d): an identity belongs to one account", g.label(), prev)
				}
				idents[ik] = g.line
			}
			f.accounts = append(f.accounts, a)
		}
	}
	if len(fe.Problems) > 0 {
		return declaredFile{}, fe
	}
	return f, nil
}

// yamlErrLine finds "line N" in a YAML error (1 when it gives none).
func yamlErrLine(err error) int {
	var te *yaml.TypeError
	msg := err.Error()
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	if i := strings.Index(msg, "line "); i >= 0 {
		n := 0
		for _, c := range msg[i+5:] {
			if c < '0' || c > '9' {
				break
			}
			n = n*10 + int(c-'0')
		}
		if n > 0 {
			return n
		}
	}
	return 1
}

// fields reads a mapping whose keys must be among allowed; nil (with the
// problem recorded) when n is not a mapping.
func fields(fe *FileError, n *yaml.Node, what string, allowed ...string) map[string]*yaml.Node {
	if n.Kind != yaml.MappingNode {
		fe.add(n.Line, "%s: want a mapping of %s", what, strings.Join(allowed, ", "))
		return nil
	}
	out := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case k.Kind != yaml.ScalarNode:
			fe.add(k.Line, "%s: a key must be a plain name", what)
		case !slices.Contains(allowed, k.Value):
			fe.add(k.Line, "%s: unknown key %q (want %s)", what, k.Value, strings.Join(allowed, ", "))
		case out[k.Value] != nil:
			fe.add(k.Line, "%s: %s is given twice", what, k.Value)
		default:
			out[k.Value] = v
		}
	}
	return out
}

// text reads an optional scalar field; ok false (recorded) when it is not
// a single value.
func text(fe *FileError, m map[string]*yaml.Node, what, key string) (string, int, bool) {
	n := m[key]
	if n == nil {
		return "", 0, true
	}
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		fe.add(n.Line, "%s: %s: want a single value", what, key)
		return "", n.Line, false
	}
	return strings.TrimSpace(n.Value), n.Line, true
}

func parseAccount(fe *FileError, n *yaml.Node) (declaredAccount, bool) {
	a := declaredAccount{line: n.Line}
	m := fields(fe, n, "a service account", "name", "org", "description", "owner", "bindings", "gitIdentities")
	if m == nil {
		return a, false
	}
	before := len(fe.Problems)
	name, line, ok := text(fe, m, "a service account", "name")
	a.name = name
	what := fmt.Sprintf("service account %q", name)
	switch {
	case !ok:
	case m["name"] == nil:
		fe.add(n.Line, "a service account needs a name")
		what = "a service account"
	case name == "" || len(name) > 100 || strings.ContainsAny(name, " \t\n@"):
		fe.add(line, "name %q: 1-100 characters, no spaces or @", name)
	}
	org, line, ok := text(fe, m, what, "org")
	a.org = strings.ToLower(org)
	switch {
	case !ok:
	case m["org"] == nil:
		fe.add(n.Line, "%s needs an org (the organization's slug)", what)
	default:
		if err := directory.ValidateSlug(a.org); err != nil {
			fe.add(line, "%s: org %q: %v", what, org, err)
		}
	}
	a.description, line, ok = text(fe, m, what, "description")
	if ok && len(a.description) > 1000 {
		fe.add(line, "%s: description: at most 1000 characters", what)
	}
	a.owner, a.ownerLine, ok = text(fe, m, what, "owner")
	if ok && m["owner"] != nil && a.owner == "" {
		fe.add(a.ownerLine, "%s: owner: want the userName of a person of the organization", what)
	}
	if b := m["bindings"]; b != nil {
		if b.Kind != yaml.SequenceNode {
			fe.add(b.Line, "%s: bindings: want a list", what)
		} else {
			seen := map[string]int{}
			for _, bn := range b.Content {
				bd, ok := parseBinding(fe, bn, what)
				if !ok {
					continue
				}
				k := bd.role.String() + "\x00" + strings.ToLower(bd.workspace)
				if prev, dup := seen[k]; dup {
					fe.add(bd.line, "%s: binding %s is given twice (also on line %d)", what, bindingLabel(bd.role, bd.workspace), prev)
					continue
				}
				seen[k] = bd.line
				a.bindings = append(a.bindings, bd)
			}
		}
	}
	if g := m["gitIdentities"]; g != nil {
		if g.Kind != yaml.SequenceNode {
			fe.add(g.Line, "%s: gitIdentities: want a list", what)
		} else {
			for _, gn := range g.Content {
				if id, ok := parseIdentity(fe, gn, what); ok {
					a.identities = append(a.identities, id)
				}
			}
		}
	}
	return a, len(fe.Problems) == before
}

func bindingLabel(r directory.Role, workspace string) string {
	if workspace == "" {
		return r.String()
	}
	return r.String() + " on " + workspace
}

func parseBinding(fe *FileError, n *yaml.Node, what string) (declaredBinding, bool) {
	b := declaredBinding{line: n.Line}
	m := fields(fe, n, what+": a binding", "role", "workspace")
	if m == nil {
		return b, false
	}
	before := len(fe.Problems)
	role, line, ok := text(fe, m, what+": a binding", "role")
	if ok && m["role"] == nil {
		fe.add(n.Line, "%s: a binding needs a role", what)
	} else if ok {
		r, err := directory.ParseRole(role)
		if err != nil {
			fe.add(line, "%s: %v", what, err)
		}
		b.role = r
	}
	b.workspace, line, _ = text(fe, m, what+": a binding", "workspace")
	if b.role != directory.RoleNone {
		switch {
		case b.role.OrgWide() && m["workspace"] != nil:
			fe.add(line, "%s: org-admin is granted on the organization, not on a workspace", what)
		case !b.role.OrgWide() && b.workspace == "":
			fe.add(n.Line, "%s: %s is granted on a workspace: name one", what, b.role)
		}
	}
	return b, len(fe.Problems) == before
}

func parseIdentity(fe *FileError, n *yaml.Node, what string) (declaredIdentity, bool) {
	g := declaredIdentity{line: n.Line}
	w := what + ": a git identity"
	m := fields(fe, n, w, "provider", "email", "login")
	if m == nil {
		return g, false
	}
	before := len(fe.Problems)
	provider, line, _ := text(fe, m, w, "provider")
	g.provider = directory.FoldASCII(provider)
	switch g.provider {
	case "":
		g.provider = directory.GitProviderGitHub
	case directory.GitProviderGitHub, directory.GitProviderGitLab:
	default:
		fe.add(line, "%s: provider %q: want github or gitlab", w, provider)
	}
	email, line, ok := text(fe, m, w, "email")
	if ok && email != "" {
		addr, err := directory.NormalizeAddress(email)
		if err != nil {
			fe.add(line, "%s: %v", w, err)
		}
		g.email = directory.NormalizeEmail(addr)
	}
	login, line, ok := text(fe, m, w, "login")
	if ok && login != "" {
		if len(login) > 100 || strings.ContainsAny(login, " \t\n@") {
			fe.add(line, "%s: login %q: 1-100 characters, no spaces or @", w, login)
		}
		g.login = directory.FoldASCII(login)
	}
	if len(fe.Problems) == before && g.email == "" && g.login == "" {
		fe.add(n.Line, "%s needs an email or a login", w)
	}
	return g, len(fe.Problems) == before
}

// resolve checks that organizations and workspaces exist.
func (f *declaredFile) resolve(ctx context.Context, path string, look declaredLookup) error {
	fe := &FileError{File: path}
	orgs := map[string]string{}
	for i := range f.accounts {
		a := &f.accounts[i]
		id, known := orgs[a.org]
		if !known {
			var err error
			id, err = look.orgID(ctx, a.org)
			switch {
			case errors.Is(err, directory.ErrNotFound):
			case err != nil:
				return fmt.Errorf("service accounts file: look up organization %s: %w", a.org, err)
			}
			orgs[a.org] = id
		}
		if id == "" {
			fe.add(a.line, "service account %q: no organization %q", a.name, a.org)
			continue
		}
		a.orgID = id
		if a.owner != "" {
			u, err := look.user(ctx, id, a.owner)
			switch {
			case errors.Is(err, directory.ErrNotFound):
				fe.add(a.ownerLine, "service account %q: owner %q: organization %s has no user with this userName", a.name, a.owner, a.org)
			case err != nil:
				return fmt.Errorf("service accounts file: look up owner %s of %s: %w", a.owner, a.org, err)
			case u.Kind != directory.KindHuman:
				fe.add(a.ownerLine, "service account %q: owner %q is a service account: an owner is a person", a.name, a.owner)
			case u.RemovedAt != nil:
				fe.add(a.ownerLine, "service account %q: owner %q was removed from organization %s", a.name, a.owner, a.org)
			default:
				a.ownerID = u.ID
			}
		}
		for j := range a.bindings {
			b := &a.bindings[j]
			if b.workspace == "" {
				continue
			}
			wid, err := look.workspaceID(ctx, id, b.workspace)
			switch {
			case errors.Is(err, directory.ErrNotFound):
				fe.add(b.line, "service account %q: organization %s has no workspace %q", a.name, a.org, b.workspace)
			case err != nil:
				return fmt.Errorf("service accounts file: look up workspace %s of %s: %w", b.workspace, a.org, err)
			}
			b.workspaceID = wid
		}
	}
	if len(fe.Problems) > 0 {
		return fe
	}
	return nil
}

// sessionLookup resolves references through the store.
type sessionLookup struct {
	store Store
	sess  *postgres.ReconcileSession
}

func (l sessionLookup) orgID(ctx context.Context, slug string) (string, error) {
	o, err := l.store.Organization(ctx, slug)
	return o.ID, err
}

func (l sessionLookup) workspaceID(ctx context.Context, orgID, name string) (string, error) {
	w, err := l.sess.Workspace(ctx, orgID, name)
	return w.ID, err
}

func (l sessionLookup) user(ctx context.Context, orgID, userName string) (directory.User, error) {
	return l.sess.UserByName(ctx, orgID, userName)
}

// accountPlan is what one account needs.
type accountPlan struct {
	name        string
	decl        *declaredAccount // nil: disable
	current     *directory.User  // nil: create
	attrs       bool             // set the description and the owner
	enable      bool
	disable     bool
	addBindings []declaredBinding
	delBindings []directory.Binding
	mapIDs      []directory.GitIdentity // existing identities to map
	newIDs      []declaredIdentity      // identities to create, then map
	unmapIDs    []directory.GitIdentity
}

func (p accountPlan) changes() int {
	n := len(p.addBindings) + len(p.delBindings) + len(p.mapIDs) + len(p.newIDs) + len(p.unmapIDs)
	for _, b := range []bool{p.current == nil && p.decl != nil, p.attrs, p.enable, p.disable} {
		if b {
			n++
		}
	}
	return n
}

// planDeclared compares the organization's declared accounts with the
// file. Problems that concern one account (its name taken by an account
// the file did not create, an identity mapped to someone else) are
// returned as refusals; that account is left alone.
func planDeclared(ctx context.Context, sess *postgres.ReconcileSession, orgID string, f declaredFile) ([]accountPlan, []string, error) {
	existing, err := sess.ServiceAccounts(ctx, orgID)
	if err != nil {
		return nil, nil, err
	}
	byName := make(map[string]*directory.User, len(existing))
	for i := range existing {
		byName[directory.FoldASCII(existing[i].UserName)] = &existing[i]
	}
	var plans []accountPlan
	var refused []string
	declared := map[string]bool{}
	for i := range f.accounts {
		d := &f.accounts[i]
		if d.orgID != orgID {
			continue
		}
		// userNames compare as the users_user_name_key index does.
		declared[directory.FoldASCII(d.name)] = true
		cur := byName[directory.FoldASCII(d.name)]
		p := accountPlan{name: d.name, decl: d, current: cur}
		switch {
		case cur != nil && cur.RemovedAt != nil:
			refused = append(refused, fmt.Sprintf("service account %s (line %d) was deleted; its name stays taken: rename it in the file", d.name, d.line))
			continue
		case cur != nil && !postgres.IsDeclared(*cur):
			refused = append(refused, fmt.Sprintf("service account %s (line %d) exists and was not created from the file: it is left alone (rename it in the file, or delete the hand-made one)", d.name, d.line))
			continue
		case cur == nil:
			p.addBindings = d.bindings
		default:
			desc, _ := cur.Attributes["description"].(string)
			p.attrs = desc != d.description || postgres.ServiceAccountOwner(*cur) != d.ownerID
			p.enable = !cur.Active
			have, err := sess.UserBindings(ctx, orgID, cur.ID)
			if err != nil {
				return nil, nil, err
			}
			want := map[string]bool{}
			for _, b := range d.bindings {
				want[b.role.String()+"\x00"+b.workspaceID] = true
			}
			got := map[string]bool{}
			for _, b := range have {
				k := b.Role.String() + "\x00" + b.WorkspaceID
				if want[k] && !got[k] {
					got[k] = true
					continue
				}
				p.delBindings = append(p.delBindings, b)
			}
			for _, b := range d.bindings {
				if !got[b.role.String()+"\x00"+b.workspaceID] {
					p.addBindings = append(p.addBindings, b)
				}
			}
		}
		keep := map[string]bool{}
		for _, g := range d.identities {
			found, err := sess.FindGitIdentity(ctx, orgID, g.provider, g.email, g.login)
			switch {
			case errors.Is(err, directory.ErrNotFound):
				p.newIDs = append(p.newIDs, g)
				continue
			case err != nil:
				return nil, nil, err
			}
			keep[found.ID] = true
			switch {
			case cur != nil && found.UserID == cur.ID:
			case found.UserID != "":
				refused = append(refused, fmt.Sprintf("service account %s: git identity %s (line %d) is mapped to someone else: unmap it first", d.name, g.label(), g.line))
			default:
				p.mapIDs = append(p.mapIDs, found)
			}
		}
		if cur != nil {
			mapped, err := sess.MappedIdentities(ctx, orgID, cur.ID)
			if err != nil {
				return nil, nil, err
			}
			for _, g := range mapped {
				if !keep[g.ID] {
					p.unmapIDs = append(p.unmapIDs, g)
				}
			}
		}
		if p.changes() > 0 {
			plans = append(plans, p)
		}
	}
	for i := range existing {
		u := &existing[i]
		if postgres.IsDeclared(*u) && u.RemovedAt == nil && u.Active && !declared[directory.FoldASCII(u.UserName)] {
			plans = append(plans, accountPlan{name: u.UserName, current: u, disable: true})
		}
	}
	return plans, refused, nil
}

// applyAccount carries out one account's plan in one transaction, and
// returns the rows it changed: a run killed midway leaves the account as
// it was (and the next run plans it again) or as declared.
func applyAccount(ctx context.Context, sess *postgres.ReconcileSession, orgID string, p accountPlan) (int, error) {
	c := postgres.DeclaredAccount{Enable: p.enable, Disable: p.disable, SetAttrs: p.attrs}
	if p.current != nil {
		c.ID = p.current.ID
	}
	if d := p.decl; d != nil {
		c.Name, c.Description, c.OwnerID = d.name, d.description, d.ownerID
	}
	for _, b := range p.delBindings {
		c.DeleteBindings = append(c.DeleteBindings, b.ID)
	}
	for _, b := range p.addBindings {
		c.AddBindings = append(c.AddBindings, postgres.DeclaredBinding{Role: b.role, WorkspaceID: b.workspaceID})
	}
	for _, g := range p.unmapIDs {
		c.Unmap = append(c.Unmap, g.ID)
	}
	for _, g := range p.mapIDs {
		c.Map = append(c.Map, g.ID)
	}
	for _, g := range p.newIDs {
		c.Create = append(c.Create, postgres.GitKey{Provider: g.provider, Email: g.email, Login: g.login})
	}
	return sess.ApplyDeclaredAccount(ctx, Actor, orgID, c)
}

// reconcileDeclared is the service-accounts job.
// declaredOnce reads and checks the service accounts file once per run:
// every organization's job reads the same file, resolved against
// organizations, people and workspaces, which no job writes. A failure
// that is not the file's (a read or query error) is not kept, so the next
// organization tries again.
type declaredOnce struct {
	loaded bool
	f      declaredFile
	err    error
}

func (d *declaredOnce) load(ctx context.Context, path string, look declaredLookup) (declaredFile, error) {
	if d.loaded {
		return d.f, d.err
	}
	f, err := loadDeclared(ctx, path, look)
	var fe *FileError
	if err == nil || errors.As(err, &fe) {
		d.loaded, d.f, d.err = true, f, err
	}
	return f, err
}

func reconcileDeclared(ctx context.Context, r *Reconciler, o *orgRun, js *JobSummary) error {
	f, err := o.declared.load(ctx, r.cfg.ServiceAccountsFile, sessionLookup{store: r.cfg.Store, sess: o.sess})
	if err != nil {
		return err
	}
	plans, refused, err := planDeclared(ctx, o.sess, o.org.ID, f)
	if err != nil {
		return err
	}
	c := map[string]int{}
	for _, p := range plans {
		js.Planned += p.changes()
		switch {
		case p.disable:
			c["disabled"]++
		case p.current == nil:
			c["created"]++
		default:
			if p.attrs {
				c["updated"]++
			}
			if p.enable {
				c["enabled"]++
			}
		}
		c["bindings-added"] += len(p.addBindings)
		c["bindings-removed"] += len(p.delBindings)
		c["identities-created"] += len(p.newIDs)
		c["identities-mapped"] += len(p.mapIDs) + len(p.newIDs)
		c["identities-unmapped"] += len(p.unmapIDs)
	}
	c["refused"] = len(refused)
	js.Counts = c
	verb := "reconcile"
	if o.dry {
		verb = "would reconcile"
	}
	for _, p := range plans {
		r.log.Info("service accounts: "+verb, "org", o.org.Slug, "account", p.name, "create", p.current == nil && !p.disable,
			"disable", p.disable, "enable", p.enable, "descriptionOrOwner", p.attrs,
			"bindingsAdded", len(p.addBindings), "bindingsRemoved", len(p.delBindings),
			"identitiesMapped", len(p.mapIDs)+len(p.newIDs), "identitiesUnmapped", len(p.unmapIDs))
	}
	var errs []error
	for _, s := range refused {
		errs = append(errs, errors.New(s))
	}
	if o.dry {
		return errors.Join(errs...)
	}
	for _, p := range plans {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
		n, err := applyAccount(ctx, o.sess, o.org.ID, p)
		js.Changed += n
		if err != nil {
			errs = append(errs, fmt.Errorf("service account %s: %w", p.name, err))
		}
	}
	return errors.Join(errs...)
}
