package sync

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/scimbridge/scimbridge/internal/postgres"
)

// Summary is what one RunOnce did (or, dry, would do).
type Summary struct {
	DryRun bool
	// Skipped: another run held the lock, and this one did nothing.
	Skipped    bool
	SkipReason string
	StartedAt  time.Time
	FinishedAt time.Time
	Orgs       []OrgSummary
}

// OrgSummary is one organization's part of a run.
type OrgSummary struct {
	Org, OrgID string
	// RunID is the id of the run's record ("" for a dry run).
	RunID string
	// StartedAt is the database's clock at the run's snapshot.
	StartedAt, FinishedAt time.Time
	// Since is the watermark changes were read from; nil for a full run.
	Since   *time.Time
	Outcome string // ok, error or cancelled
	// SurveyDuration is how long the run took to read what it needs.
	SurveyDuration time.Duration
	Jobs           []JobSummary
	// Mappings are the auto-mappings planned (and, unless dry, attempted:
	// the job's Changed says how many held when written).
	Mappings []Mapping
	// Conflicts hold as the run leaves them; Resolved no longer hold.
	Conflicts []Conflict
	Resolved  []Conflict
	Errors    []string
}

// JobSummary is what one job planned and changed. It is also what the
// run's record keeps, per job, in reconcile_runs.counts.
type JobSummary struct {
	Job     string `json:"-"`
	Planned int    `json:"planned"`
	Changed int    `json:"changed"`
	// Conflicts: for the conflicts job, the conflicts open after the run.
	Conflicts int `json:"conflicts,omitempty"`
	// Counts holds the job's own figures (expired tokens, suspended
	// mappings…).
	Counts  map[string]int `json:"counts,omitempty"`
	Skipped string         `json:"skipped,omitempty"`
	Error   string         `json:"error,omitempty"`
	// Duration is how long the job took.
	Duration time.Duration `json:"durationNs"`
}

// Mapping is an auto-mapping.
type Mapping struct {
	IdentityID, Identity string
	UserID, User         string
	Reason               string // as audited
}

// Conflict is something the reconciler would not guess about.
type Conflict struct {
	Kind       string // postgres.ConflictAmbiguousEmail…
	IdentityID string
	Identity   string // provider and email (login)
	Detail     string // the reason, in words
	New        bool   // found by this run
}

func (s OrgSummary) changed() int {
	n := 0
	for _, j := range s.Jobs {
		n += j.Changed
	}
	return n
}

func (s OrgSummary) newConflicts() int {
	n := 0
	for _, c := range s.Conflicts {
		if c.New {
			n++
		}
	}
	return n
}

// listMax bounds the mappings and conflicts String prints per
// organization; the admin API lists them all.
const listMax = 50

// String renders the summary as `scimbridge reconcile --once` prints it: a
// line per organization, a line per job with its counts, then the planned
// mappings and the conflicts with their reasons.
func (s Summary) String() string {
	var b strings.Builder
	if s.Skipped {
		fmt.Fprintf(&b, "reconcile: skipped: %s\n", s.SkipReason)
		return b.String()
	}
	mode := "run"
	if s.DryRun {
		mode = "dry run (nothing was changed)"
	}
	fmt.Fprintf(&b, "reconcile %s: %d organization(s), %s\n", mode, len(s.Orgs), s.FinishedAt.Sub(s.StartedAt).Round(time.Millisecond))
	for _, o := range s.Orgs {
		scope := "full"
		if o.Since != nil {
			scope = "changes since " + o.Since.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(&b, "%s: %s, %s, %s\n", o.Org, o.Outcome, scope, o.FinishedAt.Sub(o.StartedAt).Round(time.Millisecond))
		for _, j := range o.Jobs {
			fmt.Fprintf(&b, "  %-18s", j.Job)
			if j.Skipped != "" {
				fmt.Fprintf(&b, "skipped: %s\n", j.Skipped)
				continue
			}
			fmt.Fprintf(&b, "planned %d, changed %d", j.Planned, j.Changed)
			if j.Job == JobConflicts {
				fmt.Fprintf(&b, ", open %d", j.Conflicts)
			}
			if c := renderCounts(j.Counts); c != "" {
				fmt.Fprintf(&b, " (%s)", c)
			}
			if j.Error != "" {
				fmt.Fprintf(&b, " error: %s", j.Error)
			}
			b.WriteString("\n")
		}
		verb := "mapped"
		if s.DryRun {
			verb = "would map"
		}
		for i, m := range o.Mappings {
			if i == listMax {
				fmt.Fprintf(&b, "  … and %d more mappings\n", len(o.Mappings)-listMax)
				break
			}
			fmt.Fprintf(&b, "  %s %s → %s (%s)\n", verb, m.Identity, m.User, m.Reason)
		}
		for i, c := range o.Conflicts {
			if i == listMax {
				fmt.Fprintf(&b, "  … and %d more conflicts\n", len(o.Conflicts)-listMax)
				break
			}
			mark := "conflict"
			if c.New {
				mark = "conflict (new)"
			}
			fmt.Fprintf(&b, "  %s %s %s: %s\n", mark, c.Kind, c.Identity, c.Detail)
		}
		for i, c := range o.Resolved {
			if i == listMax {
				fmt.Fprintf(&b, "  … and %d more resolved\n", len(o.Resolved)-listMax)
				break
			}
			fmt.Fprintf(&b, "  resolved %s %s: %s\n", c.Kind, c.Identity, c.Detail)
		}
		for _, e := range o.Errors {
			fmt.Fprintf(&b, "  error: %s\n", e)
		}
	}
	return b.String()
}

// renderCounts prints non-zero counts by name.
func renderCounts(m map[string]int) string {
	var parts []string
	for k, v := range m {
		if v != 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, v))
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

// Outcome is the run's outcome: skipped, or the worst of its
// organizations' (cancelled, error, ok).
func (s Summary) Outcome() string {
	if s.Skipped {
		return "skipped"
	}
	out := postgres.RunOK
	for _, o := range s.Orgs {
		switch o.Outcome {
		case postgres.RunCancelled:
			return postgres.RunCancelled
		case postgres.RunError:
			out = postgres.RunError
		}
	}
	return out
}
