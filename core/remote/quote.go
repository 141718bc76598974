package remote

import (
	"regexp"
	"strings"
)

// plainWord is an argument the POSIX shell takes literally as it is, in
// any position (no "=", which would make a first word an assignment).
var plainWord = regexp.MustCompile(`^[A-Za-z0-9_@%+:,./-]+$`)

// shellQuote joins args into one command line that a POSIX shell (the
// remote user's login shell, which runs an SSH exec) splits back into
// exactly args: every argument that is not a plain word is single-quoted,
// and a single quote inside it closes the quotes, is written as \' and
// reopens them. This is the only place that builds a remote command line.
//
// Hand-written rather than a library: the rule is the shell's own, fits in
// a few lines, and is tested against sh itself.
func shellQuote(args ...string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if plainWord.MatchString(a) {
			out[i] = a
			continue
		}
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(out, " ")
}
