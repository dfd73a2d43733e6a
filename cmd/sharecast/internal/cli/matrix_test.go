package cli

import "testing"

// Windows has no uids (os.Geteuid returns -1 there): the matrix's titles
// say "this user" rather than "uid -1".
func TestMatrixUser(t *testing.T) {
	for uid, want := range map[int]string{-1: "this user", 0: "uid 0", 65534: "uid 65534"} {
		if got := matrixUser(uid); got != want {
			t.Errorf("matrixUser(%d) = %q, want %q", uid, got, want)
		}
	}
}
