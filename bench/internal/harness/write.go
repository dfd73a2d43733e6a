//go:build linux

package harness

import (
	"encoding/json"
	"errors"
	"os"
)

// write writes the files that the Config names.
func (h *harness) write() error {
	var errs []error
	if p := h.cfg.JSON; p != "" {
		b, err := json.Marshal(h.rep)
		if err == nil {
			err = os.WriteFile(p, append(b, '\n'), 0o644)
		}
		errs = append(errs, err)
	}
	if p := h.cfg.Chart; p != "" {
		errs = append(errs, writeChart(h.rep, p))
	}
	if p := h.cfg.Results; p != "" {
		errs = append(errs, writeResults(h.rep, p))
	}
	return errors.Join(errs...)
}
