package sharecode

import "time"

// Code is a share code as hutong keeps it: the token, what it leads to,
// and how often it was resolved and paid through.
type Code struct {
	ID         string `json:"id"`
	Token      string `json:"token"`
	Text       string `json:"text"`    // the wrapped token, ￥TOKEN￥
	Message    string `json:"message"` // a ready-to-paste message around it
	MerchantID string `json:"merchant_id"`
	Target     string `json:"target"` // product, store, payment, pay_for_me
	TargetID   string `json:"target_id"`
	// URL is where a person who pastes the code is taken.
	URL        string     `json:"url"`
	Title      string     `json:"title,omitempty"`
	Source     string     `json:"source"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	MaxUses    *int64     `json:"max_uses,omitempty"`
	Resolves   int64      `json:"resolves"`
	PaidOrders int64      `json:"paid_orders"`
	PaidAmount int64      `json:"paid_amount"`
	Revoked    bool       `json:"revoked"`
	Created    time.Time  `json:"created"`
}

// Decorated is c with its Text and Message filled in from its token.
func (c Code) Decorated() Code {
	if tok, err := Parse(c.Token); err == nil {
		c.Text = Wrap(tok)
		c.Message = Message(tok, c.Title)
	}
	return c
}

// Stat is the counts of one share code or one source.
type Stat struct {
	Key        string `json:"key"`
	Codes      int64  `json:"codes"`
	Resolves   int64  `json:"resolves"`
	PaidOrders int64  `json:"paid_orders"`
	PaidAmount int64  `json:"paid_amount"`
}
