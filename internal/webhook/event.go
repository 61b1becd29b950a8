package webhook

import (
	"encoding/json"
	"time"
)

// Event is what merchants receive: one change of one object. Its ID is the
// webhook-id of every delivery of it.
type Event struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	MerchantID string          `json:"merchant_id"`
	Created    time.Time       `json:"created"`
	Data       json.RawMessage `json:"data"`
}

// Endpoint is a merchant's webhook endpoint. The secret is shown once, when
// the endpoint is created.
type Endpoint struct {
	ID      string    `json:"id"`
	URL     string    `json:"url"`
	Secret  string    `json:"secret,omitempty"`
	Created time.Time `json:"created"`
}
