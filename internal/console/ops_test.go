package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/accounts"
	"github.com/hutong-pay/hutong/internal/gatewaytest"
	"github.com/hutong-pay/hutong/internal/rollouts"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// TestJobsAndFeedback: operations see a dead job with its last error and
// put it back in the queue, audited; support sees the queue but cannot
// retry; the portal has no job page. Buyers' feedback is listed with its
// average per method, a merchant seeing its own buyers' only.
func TestJobsAndFeedback(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		// No worker: a revived job is due at once, and the gateway's own
		// worker (which knows no console.test) would claim it and let it
		// die again before the second retry.
		e := start(t, db, gatewaytest.Options{NoWorker: true})
		ctx := context.Background()
		pool := db.Pool()
		now := time.Now()
		// Due in an hour, and claimed by this test an hour ahead.
		id, err := pool.JobInsert(ctx, store.JobInsertParams{Kind: "console.test", Payload: []byte(`{"id":"x"}`), RunAt: now.Add(time.Hour), MaxAttempts: 1, CreatedAt: now})
		if err != nil {
			t.Fatal(err)
		}
		claimed, err := pool.JobsClaim(ctx, store.JobsClaimParams{Worker: "test", Limit: 50, Now: now.Add(2 * time.Hour), LockedUntil: now.Add(3 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		failed := false
		for _, j := range claimed {
			if j.ID == id {
				if err := pool.JobFail(ctx, store.JobFailParams{ID: id, LockedBy: "test", FinishedAt: now, Error: "钱包超时"}); err != nil {
					t.Fatal(err)
				}
				failed = true
			}
		}
		if !failed {
			t.Fatal("the test's job was not claimed")
		}
		ops := newBrowser(t, e.URL)
		ops.login("ops@hutong.test")
		st, _, body := ops.do("GET", "/console/jobs", nil)
		if st != http.StatusOK || !strings.Contains(body, `data-dead-job="`+strconv.FormatInt(id, 10)+`"`) || !strings.Contains(body, "钱包超时") {
			t.Fatalf("the jobs page: %d, without the dead job", st)
		}
		sup := newBrowser(t, e.URL)
		sup.login("support@hutong.test")
		retry := "/console/jobs/" + strconv.FormatInt(id, 10) + "/retry"
		if st, _, _ := sup.do("POST", retry, url.Values{"csrf": {sup.csrf("/console/jobs")}}); st != http.StatusForbidden {
			t.Fatalf("support retrying: %d, want 403", st)
		}
		if st, loc, _ := ops.do("POST", retry, url.Values{"csrf": {ops.csrf("/console/jobs")}}); st != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/jobs") {
			t.Fatalf("operations retrying: %d %s", st, loc)
		}
		if st, _, _ := ops.do("POST", retry, url.Values{"csrf": {ops.csrf("/console/jobs")}}); st != http.StatusNotFound {
			t.Fatalf("retrying a job no longer dead: %d, want 404", st)
		}
		log, err := e.Accounts.AuditLog(ctx, accounts.AuditQuery{Object: "job:" + strconv.FormatInt(id, 10), Limit: 5})
		if err != nil || len(log) != 1 || log[0].Action != "job.retry" || log[0].ActorEmail != "ops@hutong.test" {
			t.Fatalf("audit of the retry: %+v %v", log, err)
		}

		// Feedback: one buyer of each merchant.
		for i, m := range e.Merchants {
			if _, err := e.Svc.RolloutService().CreateFeedback(ctx, feedbackOf(m.ID, 5-i*2)); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, body := ops.do("GET", "/console/feedback", nil); !strings.Contains(body, "很方便 0") || !strings.Contains(body, "很方便 1") {
			t.Fatal("operations do not see every merchant's feedback")
		}
		shop := newBrowser(t, e.URL)
		shop.login("shop-b@hutong.test")
		if _, _, body := shop.do("GET", "/console/feedback", nil); strings.Contains(body, "很方便 0") || !strings.Contains(body, "很方便 1") {
			t.Fatal("merchant B's feedback page shows A's buyers, or not its own")
		}
	})
}

// feedbackOf is a buyer of merchantID rating WeChat Pay; the text names
// the rating's place so pages can be told apart.
func feedbackOf(merchantID string, rating int) rollouts.Feedback {
	return rollouts.Feedback{MerchantID: merchantID, Method: "wechatpay.native", Rating: rating, BuyerID: "b-fb",
		Text: "很方便 " + strconv.Itoa((5-rating)/2)}
}
