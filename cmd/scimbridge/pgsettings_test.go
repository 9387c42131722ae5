package main

import (
	"maps"
	"testing"
)

func TestPGSettingsParsesNameValuePairs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    map[string]string
		wantErr bool
	}{
		{name: "unset", in: "", want: map[string]string{}},
		{name: "two settings, any spacing", in: " shared_preload_libraries=pg_stat_statements \tpg_stat_statements.track=all ",
			want: map[string]string{"shared_preload_libraries": "pg_stat_statements", "pg_stat_statements.track": "all"}},
		{name: "a list value keeps its commas", in: "shared_preload_libraries=a,b", want: map[string]string{"shared_preload_libraries": "a,b"}},
		{name: "empty value", in: "log_line_prefix=", want: map[string]string{"log_line_prefix": ""}},
		{name: "no equals sign", in: "fsync", wantErr: true},
		{name: "no name", in: "=on", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := pgSettings(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("pgSettings(%q) error %v, want error %v", tt.in, err, tt.wantErr)
			}
			if !tt.wantErr && !maps.Equal(got, tt.want) {
				t.Errorf("pgSettings(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}
