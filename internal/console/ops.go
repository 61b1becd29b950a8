package console

import (
	"database/sql"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hutong-pay/hutong/internal/accounts"
	"github.com/hutong-pay/hutong/internal/rollouts"
	"github.com/hutong-pay/hutong/internal/store"
)

// The operators' pages on how hutong itself is doing: its job queue, and
// what buyers said about the methods they paid with.

// opsRoles run the gateway: they may bring a dead job back.
var opsRoles = []accounts.Role{accounts.RoleAdmin, accounts.RoleOperations}

func (h *Handler) opsRoutes() {
	h.route("GET /console/jobs", platformRoles, h.jobs)
	h.route("POST /console/jobs/{id}/retry", opsRoles, h.jobRetry)
	h.route("GET /console/feedback", allRoles, h.feedback)
}

type jobsPage struct {
	Counts   []store.JobCount
	Dead     []store.DeadJob
	Kind     string
	More     int64
	CanRetry bool
	Now      time.Time
}

// jobs shows the queue: how many jobs of each kind wait, run or died, how
// late the earliest waiting one is, and every dead job with its last
// error.
func (h *Handler) jobs(w http.ResponseWriter, r *http.Request, v *visit) {
	db := h.cfg.Gateway.DB.Pool()
	p := jobsPage{Kind: strings.TrimSpace(r.URL.Query().Get("kind")), CanRetry: slices.Contains(opsRoles, v.user.Role), Now: time.Now()}
	before, _ := strconv.ParseInt(r.URL.Query().Get("before"), 10, 64)
	var err error
	if p.Counts, err = db.JobCounts(r.Context()); err == nil {
		p.Dead, err = db.JobsDead(r.Context(), store.JobsDeadParams{Kind: p.Kind, Before: before, Limit: pageSize + 1})
	}
	if err != nil {
		h.cfg.Logger.Error("console: reading the job queue", "err", err)
		h.fail(w, r, v, http.StatusInternalServerError, "暂时无法读取任务队列，请稍后再试。")
		return
	}
	if len(p.Dead) > pageSize {
		p.Dead, p.More = p.Dead[:pageSize], p.Dead[pageSize-1].ID
	}
	h.render(w, http.StatusOK, "jobs.html", v, page{Title: "任务", Nav: "jobs", Data: p, Info: r.URL.Query().Get("done")})
}

// jobRetry brings a dead job back, audited: someone fixed what killed it.
func (h *Handler) jobRetry(w http.ResponseWriter, r *http.Request, v *visit) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		h.fail(w, r, v, http.StatusNotFound, "没有这个任务。")
		return
	}
	// The job is revived and audited in one transaction.
	_, rec := h.audited(r, v, "job.retry", "job:"+strconv.FormatInt(id, 10), "", nil, nil)
	ctx, db := r.Context(), h.cfg.Gateway.DB
	err = db.Tx(ctx, func(tx *sql.Tx) error {
		if err := db.In(tx).JobRevive(ctx, store.JobReviveParams{ID: id, At: time.Now()}); err != nil {
			return err
		}
		return rec.record(ctx, tx, map[string]int64{"job": id})
	})
	switch {
	case errors.Is(err, store.ErrNoRows):
		h.fail(w, r, v, http.StatusNotFound, "没有这个已失败的任务。")
		return
	case store.IsUniqueViolation(err):
		h.fail(w, r, v, http.StatusConflict, "同一件事已有一个任务在排队，无需重试这一个。")
		return
	case err != nil:
		h.cfg.Logger.Error("console: retrying a job", "job", id, "err", err)
		h.fail(w, r, v, http.StatusInternalServerError, "暂时无法重试，请稍后再试。")
		return
	}
	http.Redirect(w, r, "/console/jobs?done="+url.QueryEscape("任务 "+strconv.FormatInt(id, 10)+" 已重新排队"), http.StatusSeeOther)
}

type feedbackPage struct {
	Method, Cohort, Tier string
	Entries              []rollouts.Feedback
	Summary              []feedbackSummary
}

// feedbackSummary is the buyers' average rating of a method in a cohort.
type feedbackSummary struct {
	Method, Cohort string
	Count          int
	Average        string
}

// feedback lists what buyers said after paying, newest first, with the
// average rating per method and cohort; a merchant sees its own buyers'.
func (h *Handler) feedback(w http.ResponseWriter, r *http.Request, v *visit) {
	q := r.URL.Query()
	p := feedbackPage{Method: strings.TrimSpace(q.Get("method")), Cohort: strings.TrimSpace(q.Get("cohort")), Tier: strings.TrimSpace(q.Get("tier"))}
	list, err := h.cfg.Gateway.RolloutService().ListFeedback(r.Context(), rollouts.FeedbackFilter{MerchantID: v.scope, Method: p.Method,
		Cohort: p.Cohort, Tier: p.Tier, Limit: 500})
	if err != nil {
		h.cfg.Logger.Error("console: reading feedback", "err", err)
		h.fail(w, r, v, http.StatusInternalServerError, "暂时无法读取买家反馈，请稍后再试。")
		return
	}
	p.Entries = list
	type key struct{ method, cohort string }
	sum, count := map[key]int{}, map[key]int{}
	var order []key
	for _, f := range list {
		k := key{f.Method, f.Cohort}
		if count[k] == 0 {
			order = append(order, k)
		}
		sum[k] += f.Rating
		count[k]++
	}
	for _, k := range order {
		p.Summary = append(p.Summary, feedbackSummary{Method: k.method, Cohort: k.cohort, Count: count[k],
			Average: strconv.FormatFloat(float64(sum[k])/float64(count[k]), 'f', 2, 64)})
	}
	h.render(w, http.StatusOK, "feedback.html", v, page{Title: "买家反馈", Nav: "feedback", Data: p})
}
