package rollout

// DryRun tells which buyers a change of one method's rule from `from` to
// `to` would add and remove, judged on checkouts already seen (from the
// exposure log, say). A buyer counts as reached by a rule when at least one
// of their checkouts shows the method; added are the buyers reached by `to`
// and not by `from`, removed the reverse. Buyers are listed once each, in
// the order of their first checkout; checkouts without a buyer id are
// skipped. Market tiers come from tt (nil: DefaultTierTable()).
//
// DryRun applies both rules as written: Validate `to` before proposing it.
// Raising BasisPoints alone never removes anyone, and lowering it never adds
// anyone; changing the Salt does both.
func DryRun(from, to Rule, method string, seen []Checkout, tt TierTable) (added, removed []string) {
	if tt == nil {
		tt = defaultTiers
	}
	rf, rt := compileRule(from, true), compileRule(to, true)
	type reach struct{ from, to bool }
	reached := make(map[string]*reach)
	var order []string
	for _, c := range seen {
		if c.BuyerID == "" {
			continue
		}
		r := reached[c.BuyerID]
		if r == nil {
			r = &reach{}
			reached[c.BuyerID] = r
			order = append(order, c.BuyerID)
		}
		e := newEvaluation(c, 0, nil)
		e.tiers = tt
		if !r.from && e.decide(method, &rf).Shown {
			r.from = true
		}
		if !r.to && e.decide(method, &rt).Shown {
			r.to = true
		}
	}
	for _, b := range order {
		switch r := reached[b]; {
		case r.to && !r.from:
			added = append(added, b)
		case r.from && !r.to:
			removed = append(removed, b)
		}
	}
	return added, removed
}
