package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/hutong-pay/hutong/internal/notfound"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// TestKeysetPages: pages follow their cursor in the list's order, ties on
// the time broken by id, and a cursor outside the caller's scope is a
// not-found on starting_after, as one that does not exist.
func TestKeysetPages(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		// Two merchants' rows, several at one instant, in the events table.
		for i, m := range []string{"a", "a", "a", "b", "a", "a"} {
			if _, err := db.ExecContext(ctx, `INSERT INTO events (id, merchant_id, type, object_id, data, created_at) VALUES ($1, $2, 't', 'o', $3, $4)`,
				fmt.Sprintf("evt_%d", i), m, fmt.Sprintf(`"evt_%d"`, i), i/2); err != nil {
				t.Fatal(err)
			}
		}
		k := store.Keyset{Table: "events", Time: "created_at", ID: "id", Desc: true, IDDesc: true, Object: "event",
			Scope: "merchant_id = $2", ScopeArgs: []any{"a"}}
		var got []string
		after := ""
		for range 10 {
			query, args, err := k.Page(ctx, db, after, `SELECT data FROM events WHERE merchant_id = $1`, " AND ", []any{"a"})
			if err != nil {
				t.Fatal(err)
			}
			args = append(args, 2)
			page, err := store.QueryJSON[string](ctx, db, query+fmt.Sprintf(` ORDER BY created_at DESC, id DESC LIMIT $%d`, len(args)), args...)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			got = append(got, page...)
			after = page[len(page)-1]
		}
		if want := "[evt_5 evt_4 evt_2 evt_1 evt_0]"; fmt.Sprint(got) != want {
			t.Errorf("pages = %v, want %s", got, want)
		}
		var nf *notfound.Error
		if _, _, err := k.Page(ctx, db, "evt_3", "", " AND ", nil); !errors.As(err, &nf) || nf.Param != "starting_after" || !errors.Is(err, notfound.Err) {
			t.Errorf("another merchant's cursor: %v, want a not-found on starting_after", err)
		}
		none, err := store.QueryJSON[string](ctx, db, `SELECT data FROM events WHERE merchant_id = 'nobody'`)
		if err != nil || none == nil {
			t.Errorf("an empty QueryJSON = %#v, %v; want an empty, non-nil slice", none, err)
		}
		ids, err := store.QueryStrings(ctx, db, `SELECT id FROM events WHERE merchant_id = 'b'`)
		if err != nil || fmt.Sprint(ids) != "[evt_3]" {
			t.Errorf("QueryStrings = %v, %v", ids, err)
		}
	})
}
