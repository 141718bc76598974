package remote

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

func TestShellQuote(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"plain words stay as they are", []string{"/srv/raftcmp/bin/raftcmp-abc", "host", "run-plugin", "--sha256", "0af9"}, "/srv/raftcmp/bin/raftcmp-abc host run-plugin --sha256 0af9"},
		{"empty", []string{""}, "''"},
		{"space", []string{"a b"}, "'a b'"},
		{"single quote", []string{"it's"}, `'it'\''s'`},
		{"assignment", []string{"GOMAXPROCS=2"}, "'GOMAXPROCS=2'"},
		{"expansions", []string{"$HOME", "`id`", "$(id)", "*", "~", "a;b", "a|b", "a&b", "!x"}, `'$HOME' '` + "`id`" + `' '$(id)' '*' '~' 'a;b' 'a|b' 'a&b' '!x'`},
		{"newline", []string{"a\nb"}, "'a\nb'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := shellQuote(tt.args...)
			if got != tt.want {
				t.Errorf("shellQuote(%q) = %s, want %s", tt.args, got, tt.want)
			}
			// The shell splits it back into exactly the arguments.
			out, err := exec.Command("sh", "-c", `printf '%s\0' `+got).Output()
			if err != nil {
				t.Fatalf("sh: %v", err)
			}
			back := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
			if !slices.Equal(back, tt.args) {
				t.Errorf("sh split %s into %q, want %q", got, back, tt.args)
			}
		})
	}
}
