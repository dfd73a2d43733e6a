package netns

import (
	"errors"
	"fmt"
	"runtime"
)

// ErrNotSupported reports an OS without network namespaces.
var ErrNotSupported = fmt.Errorf("netns: network namespaces need Linux, not %s: %w", runtime.GOOS, errors.ErrUnsupported)

// ErrNotIsolated reports a namespace that holds an interface other than lo.
var ErrNotIsolated = errors.New("netns: the namespace holds an interface other than lo")

// Requirement says, for people, what making a namespace needs.
const Requirement = "a private network namespace: run as root, or enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1 on Debian and Ubuntu, user.max_user_namespaces > 0)"
