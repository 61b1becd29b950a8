// Package jobsbench measures hutong's own job queue (internal/jobs) against
// River (riverqueue/river) doing the same work on the same stores, to decide
// whether hutong's jobs should move to River. It holds only benchmarks and
// the test that keeps them compiling and correct; see BENCHMARKS.md
// ("Jobs: internal/jobs vs River") for the figures and the verdict.
//
// Each operation is one transaction that inserts a small state row and
// enqueues two jobs, one due now and one due in an hour (like a payment's
// expiry, unique by key), then commits; workers run beside it and complete
// the due-now jobs with one small UPDATE each.
//
//	HUTONG_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//	  go test -run - -bench . -benchtime 5s ./internal/jobs/jobsbench
package jobsbench
