package main

import (
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/parley-im/parley/api"
)

// releaseVersion and releaseCommit are set by scripts/release.sh (-ldflags "-X
// main.releaseVersion=v1.2.3 -X main.releaseCommit=<hash>"). The commit is a fallback
// for builds without VCS stamping (-buildvcs=false, or a worktree Go cannot read).
var releaseVersion, releaseCommit string

// versionString is what `parley --version` prints after "parley version ": the
// release version (or the module version go install recorded, or api.Version-dev),
// the commit and its time from the build info, and the Go toolchain and platform.
func versionString() string {
	info, _ := debug.ReadBuildInfo()
	return formatVersion(releaseVersion, releaseCommit, info, runtime.GOOS+"/"+runtime.GOARCH)
}

func formatVersion(release, commit string, info *debug.BuildInfo, platform string) string {
	v := release
	if v == "" && info != nil && info.Main.Version != "" && info.Main.Version != "(devel)" {
		v = info.Main.Version
	}
	if v == "" {
		v = api.Version + "-dev"
	}
	var details []string
	if info != nil {
		s := map[string]string{}
		for _, kv := range info.Settings {
			s[kv.Key] = kv.Value
		}
		if s["vcs.revision"] == "" {
			s["vcs.revision"] = commit
		}
		if rev := s["vcs.revision"]; rev != "" {
			if len(rev) > 12 {
				rev = rev[:12]
			}
			if s["vcs.modified"] == "true" {
				rev += "+dirty"
			}
			details = append(details, "commit "+rev)
		} else {
			details = append(details, "commit unknown")
		}
		if t := s["vcs.time"]; t != "" {
			details = append(details, t)
		}
		details = append(details, info.GoVersion)
	}
	details = append(details, platform)
	return v + " (" + strings.Join(details, ", ") + ")"
}
