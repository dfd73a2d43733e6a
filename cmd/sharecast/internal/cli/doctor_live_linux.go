package cli

import (
	"github.com/spf13/cobra"
)

// checkLive joins the groups for opt.listen and reports what arrived.
func checkLive(cmd *cobra.Command, e *env, r *DoctorReport, opt doctorOptions) error {
	r.add("live", statusWarning, "host", "--listen is not implemented yet", "")
	return nil
}
