package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/hutong-pay/hutong/internal/payment"
)

// PaymentInsertBatch is the most payments PaymentInsertMany writes in one
// statement: 460 parameters. Larger statements are slower on SQLite,
// whose driver looks up each parameter's name in a list as long as the
// statement's parameters (13,000 payments with their exposures: 4 s at
// 250 rows a statement, 0.9 s at 20).
const PaymentInsertBatch = 20

// PaymentInsertMany stores new payments, in multi-row statements of up to
// PaymentInsertBatch rows: what the demo's history of a few hundred
// thousand payments needs to be written in seconds rather than minutes.
// Rows are as PaymentInsert writes them; run it in a transaction so that a
// unique violation (IsUniqueViolation) leaves none of them.
func (e Executor) PaymentInsertMany(ctx context.Context, ps []payment.Payment) error {
	for len(ps) > 0 {
		batch := ps[:min(len(ps), PaymentInsertBatch)]
		ps = ps[len(batch):]
		var q strings.Builder
		q.WriteString("INSERT INTO payments (" + strings.Join(paymentColumns, ", ") + ") VALUES ")
		args := make([]any, 0, len(batch)*len(paymentColumns))
		for i, p := range batch {
			row, err := paymentRow(p)
			if err != nil {
				return err
			}
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(")
			for c := range paymentColumns {
				if c > 0 {
					q.WriteString(", ")
				}
				fmt.Fprintf(&q, "$%d", i*len(paymentColumns)+c+1)
			}
			q.WriteString(")")
			args = append(args, row...)
		}
		if _, err := e.q.ExecContext(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("writing %d payments: %w", len(batch), err)
		}
	}
	return nil
}
