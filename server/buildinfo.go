package server

import "runtime/debug"

// BuildInfo says what a binary was built from, as the Go toolchain
// recorded it: the main module's version ("(devel)" in a checkout), the
// VCS revision, its time and whether the tree had changes (empty or false
// when the build recorded none: go build -buildvcs=true records them in a
// workspace), and Go's version.
type BuildInfo struct {
	Version, Revision, Time, GoVersion string
	Modified                           bool
}

// ReadBuildInfo returns the running binary's BuildInfo.
func ReadBuildInfo() BuildInfo {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return BuildInfo{Version: "unknown"}
	}
	b := BuildInfo{Version: bi.Main.Version, GoVersion: bi.GoVersion}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.time":
			b.Time = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}
