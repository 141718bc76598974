package cluster

import (
	"context"
	"strings"
)

// DataRemover is implemented by a Launcher whose nodes keep their data
// directories somewhere Stop cannot reach with os.RemoveAll (on remote
// hosts). Stop calls RemoveData with the cluster's data directory, the
// parent of every LaunchRequest.DataDir it launched, once every node
// process has ended, unless the spec keeps the data. (A Process cannot do
// it in Close: a stopped or killed member restarts on its data.)
type DataRemover interface {
	RemoveData(ctx context.Context, clusterDir string) error
}

// StderrTail keeps the last lines a node process wrote to stderr (and the
// line that started a panic), for Process.StderrTail: a Launcher other
// than LocalLauncher writes the process's stderr to it and gets the same
// form of error suffix. Safe for concurrent use.
type StderrTail struct{ w *tailWriter }

// NewStderrTail returns an empty tail.
func NewStderrTail() *StderrTail { return &StderrTail{w: newTailWriter(tailLines)} }

// Write takes more of the process's stderr.
func (s *StderrTail) Write(b []byte) (int, error) { return s.w.Write(b) }

// String is "; plugin stderr: LINE | LINE ...", to be appended to an error
// message, or "" if nothing was written.
func (s *StderrTail) String() string { return formatTail(s.w.lines()) }

// formatTail formats a process's last stderr lines as an error suffix.
func formatTail(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return "; plugin stderr: " + strings.Join(lines, " | ")
}
