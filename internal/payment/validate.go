package payment

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hutong-pay/hutong/internal/channel"
)

// MaxAmount is the largest payment: the wallets' own limit, 100 million yuan.
const MaxAmount int64 = 100_000_000_00

// Methods that let the buyer's side decide the wallet: aggregate (one code
// any wallet's app can scan) and cashier (hutong's page offers the methods).
const (
	MethodAggregate = "aggregate"
	MethodCashier   = "cashier"
)

// MethodChannel names the wallet (channel) of a method: a registered
// wallet's (see channel.Register), or "" for aggregate and cashier. ok is
// false for a method hutong does not know.
func MethodChannel(method string) (ch string, ok bool) {
	if method == MethodAggregate || method == MethodCashier {
		return "", true
	}
	return channel.MethodWallet(method)
}

// MethodNames lists every method a request may name: the registered
// wallets', then aggregate and cashier.
func MethodNames() []string {
	return append(channel.MethodNames(), MethodAggregate, MethodCashier)
}

// Platforms a buyer may be on.
var Platforms = map[string]bool{"ios": true, "android": true, "h5": true, "miniprogram": true, "pc": true}

// Request is a merchant's request for a payment.
type Request struct {
	MerchantOrderID string            `json:"merchant_order_id"`
	Amount          int64             `json:"amount" required:"the amount to charge, a whole number of fen (1 yuan is 100), at least 1" unit:"fen"`
	Currency        string            `json:"currency"`
	Description     string            `json:"description"`
	Method          string            `json:"method"`
	Buyer           Buyer             `json:"buyer"`
	ReturnURL       string            `json:"return_url,omitempty"`
	ExpiresIn       int64             `json:"expires_in,omitempty"` // seconds
	Metadata        map[string]string `json:"metadata,omitempty"`
	Items           []Item            `json:"items,omitempty"`
	// ShareCode is the share code (its id) the buyer came through.
	ShareCode string `json:"share_code,omitempty"`
}

// FieldError names the request field that is wrong and why.
type FieldError struct {
	Param   string
	Message string
}

func (e *FieldError) Error() string { return e.Param + ": " + e.Message }

func bad(param, format string, args ...any) error {
	return &FieldError{Param: param, Message: fmt.Sprintf(format, args...)}
}

var orderIDPattern = regexp.MustCompile(`^[0-9A-Za-z_\-]{1,64}$`)
var regionPattern = regexp.MustCompile(`^[1-9][0-9]{5}$`)

// Expiry bounds.
const (
	DefaultExpiresIn = 2 * time.Hour
	MinExpiresIn     = time.Minute
	MaxExpiresIn     = 24 * time.Hour
)

// Validate checks a request and returns the first problem, naming its
// field.
func (r Request) Validate() error {
	switch {
	case r.MerchantOrderID == "":
		return bad("merchant_order_id", "is required")
	case !orderIDPattern.MatchString(r.MerchantOrderID):
		return bad("merchant_order_id", "must be 1 to 64 letters, digits, _ or -")
	case r.Amount <= 0:
		return bad("amount", "must be at least 1 fen (0.01 yuan), got %d", r.Amount)
	case r.Amount > MaxAmount:
		return bad("amount", "must be at most %d fen (100,000,000.00 yuan, the wallets' limit), got %d", MaxAmount, r.Amount)
	case r.Currency == "":
		return bad("currency", `is required: "CNY" (amounts are in fen)`)
	case r.Currency != "CNY":
		return bad("currency", `must be "CNY", got %q`, r.Currency)
	case strings.TrimSpace(r.Description) == "":
		return bad("description", "is required")
	case utf8.RuneCountInString(r.Description) > 127:
		return bad("description", "must be at most 127 characters")
	case !utf8.ValidString(r.Description):
		return bad("description", "must be valid UTF-8")
	}
	if _, ok := MethodChannel(r.Method); !ok {
		return bad("method", "%q is not a method; use one of %s", r.Method, strings.Join(MethodNames(), ", "))
	}
	switch {
	case r.Buyer.ID == "":
		return bad("buyer.id", "is required")
	case len(r.Buyer.ID) > 64:
		return bad("buyer.id", "must be at most 64 bytes")
	case utf8.RuneCountInString(r.Buyer.Name) > 32 || !utf8.ValidString(r.Buyer.Name):
		return bad("buyer.name", "must be at most 32 characters of valid UTF-8")
	case r.Buyer.RegionCode != "" && !regionPattern.MatchString(r.Buyer.RegionCode):
		return bad("buyer.region_code", "must be a 6-digit GB/T 2260 region code, got %q", r.Buyer.RegionCode)
	case r.Buyer.Platform != "" && !Platforms[r.Buyer.Platform]:
		return bad("buyer.platform", "must be ios, android, h5, miniprogram or pc, got %q", r.Buyer.Platform)
	}
	if r.ReturnURL != "" {
		u, err := url.Parse(r.ReturnURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(r.ReturnURL) > 1024 {
			return bad("return_url", "must be an absolute http(s) URL of at most 1024 bytes")
		}
	}
	if r.ExpiresIn != 0 {
		d := time.Duration(r.ExpiresIn) * time.Second
		if r.ExpiresIn < 0 || d < MinExpiresIn || d > MaxExpiresIn {
			return bad("expires_in", "must be between %d and %d seconds", int(MinExpiresIn.Seconds()), int(MaxExpiresIn.Seconds()))
		}
	}
	if len(r.Items) > 50 {
		return bad("items", "may hold at most 50 lines")
	}
	for i, it := range r.Items {
		param := fmt.Sprintf("items[%d]", i)
		switch {
		case strings.TrimSpace(it.Title) == "" || utf8.RuneCountInString(it.Title) > 64 || !utf8.ValidString(it.Title):
			return bad(param+".title", "must be 1 to 64 characters")
		case it.Quantity < 1 || it.Quantity > 9999:
			return bad(param+".quantity", "must be 1 to 9999")
		case it.Amount < 0 || it.Amount > MaxAmount:
			return bad(param+".amount", "must be 0 to %d fen", MaxAmount)
		}
	}
	// The lines are what the buyer (or a pay-for-me payer) is shown they
	// pay for: they must add up to what is charged.
	if len(r.Items) > 0 {
		var sum int64
		for _, it := range r.Items {
			sum += it.Amount // at most 50 × MaxAmount: no overflow
		}
		if sum != r.Amount {
			return bad("items", "the lines' amounts sum to %d fen but amount is %d fen; they must be equal (each line's amount is for all its quantity)", sum, r.Amount)
		}
	}
	if r.ShareCode != "" && !orderIDPattern.MatchString(r.ShareCode) {
		return bad("share_code", "must be a share code id")
	}
	if len(r.Metadata) > 20 {
		return bad("metadata", "may hold at most 20 keys")
	}
	for k, v := range r.Metadata {
		if k == "" || len(k) > 40 {
			return bad("metadata", "keys must be 1 to 40 bytes")
		}
		if len(v) > 500 {
			return bad("metadata."+k, "must be at most 500 bytes")
		}
	}
	return nil
}

// New builds the payment a valid request asks for.
func New(merchantID string, r Request, now time.Time) Payment {
	exp := DefaultExpiresIn
	if r.ExpiresIn > 0 {
		exp = time.Duration(r.ExpiresIn) * time.Second
	}
	return Payment{
		ID: NewID("pay"), MerchantID: merchantID, MerchantOrderID: r.MerchantOrderID, Amount: r.Amount, Currency: r.Currency,
		Description: r.Description, Method: r.Method, Channel: methodChannel(r.Method), Buyer: r.Buyer, ReturnURL: r.ReturnURL,
		ExpiresAt: now.Add(exp), Metadata: r.Metadata, Items: r.Items, ShareCode: r.ShareCode, Status: StatusRequiresAction, CreatedAt: now, UpdatedAt: now,
	}
}

// methodChannel is MethodChannel of a method already validated.
func methodChannel(method string) string {
	ch, _ := MethodChannel(method)
	return ch
}
