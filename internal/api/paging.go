package api

import (
	"fmt"
	"net/http"
	"strconv"
)

// Lists page alike: ?limit=1..max (def when absent) and
// ?starting_after=<the id of the previous page's last object>, answered
// {"data": [...], "has_more": bool}, has_more true exactly when more
// objects follow. The service is asked for limit+1 objects and returns
// them without capping: the one past the page says whether another
// follows, which a page of limit alone cannot.
type pageParams struct {
	limit int
	after string
}

// readPage reads a list's paging parameters, answering 400 for a limit
// outside 1..max.
func readPage(w http.ResponseWriter, r *http.Request, def, max int) (pageParams, bool) {
	p := pageParams{limit: def, after: r.URL.Query().Get("starting_after")}
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > max {
			writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_parameter", fmt.Sprintf("limit must be a whole number from 1 to %d, got %q", max, v), "limit")
			return p, false
		}
		p.limit = n
	}
	return p, true
}

// writePage answers one page of list, which holds up to limit+1 objects.
func writePage[T any](w http.ResponseWriter, list []T, limit int) {
	more := len(list) > limit
	if more {
		list = list[:limit]
	}
	if list == nil {
		list = []T{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": list, "has_more": more})
}
