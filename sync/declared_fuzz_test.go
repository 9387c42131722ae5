package sync

import (
	"errors"
	"testing"
)

// FuzzParseDeclared: the service accounts file parser never panics, an
// invalid file is a *FileError whose every problem has a line, and a
// valid one yields accounts with a name and an organization.
func FuzzParseDeclared(f *testing.F) {
	for _, seed := range []string{
		"serviceAccounts: []\n",
		"serviceAccounts:\n  - name: ci-bot\n    org: acme\n    description: CI\n    owner: alice\n    roles:\n      - role: runner\n        workspace: data-eng\n    gitIdentities:\n      - email: ci@acme.example\n        provider: github\n",
		"serviceAccounts:\n  - name: a\n    org: acme\n  - name: A\n    org: acme\n",
		"serviceAccounts: {}\n",
		"- just a list\n",
		"serviceAccounts:\n  - name: x\n    org: acme\n    roles: [{role: god}]\n",
		"\t: : :",
		"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := parseDeclared("sa.yaml", data)
		if err != nil {
			var fe *FileError
			if !errors.As(err, &fe) || len(fe.Problems) == 0 {
				t.Fatalf("an invalid file must be a FileError with problems: %v", err)
			}
			for _, p := range fe.Problems {
				if p.Line < 0 || p.Reason == "" {
					t.Fatalf("problem without a line or reason: %+v", p)
				}
			}
			return
		}
		for _, a := range file.accounts {
			if a.name == "" || a.org == "" {
				t.Fatalf("account without name or org: %+v", a)
			}
		}
	})
}
