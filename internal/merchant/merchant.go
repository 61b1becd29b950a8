// Package merchant holds what hutong knows of a seller on the marketplace:
// its profile, what its payments on each wallet are made under, its money
// policy, and its API keys. It is data and its rules only; package
// merchants stores and serves it.
package merchant

import "github.com/hutong-pay/hutong/internal/payment"

// Merchant is a seller on the marketplace.
type Merchant struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Category   string `json:"category,omitempty"`
	RegionCode string `json:"region_code,omitempty"`
	Size       string `json:"size,omitempty"`
	// Wallets are what the merchant's payments on each wallet are made
	// under, by channel; a wallet absent here takes the merchant's payments
	// on the platform's own account. Never shown: a sub-merchant reference
	// may be a credential (Alipay's app_auth_token collects for the merchant).
	Wallets map[string]Wallet `json:"-"`
}

// Wallet is what a merchant's payments on one wallet are made under, as
// its active contract recorded.
type Wallet struct {
	// SubMerchant is the reference the connector acts under for the
	// merchant (WeChat Pay's sub_mchid, Alipay's app_auth_token).
	SubMerchant string
	// Seller is the wallet's user id for the merchant that its messages
	// name (Alipay's seller_id), "" where the wallet names none.
	Seller string
}

// Profile is what campaigns select merchants by and reports group them by.
type Profile struct {
	Category   string
	RegionCode string // GB/T 2260, six digits
	Size       string // small, medium or large
}

// Check reports the first field of p that is not valid.
func (p Profile) Check() error {
	if err := CheckProfile(p.RegionCode, p.Size); err != nil {
		return err
	}
	if len(p.Category) > 32 {
		return &payment.FieldError{Param: "category", Message: "must be at most 32 bytes"}
	}
	return nil
}

// CheckProfile checks a merchant's region code and size, as a filter on
// merchants names them too.
func CheckProfile(region, size string) error {
	if region != "" && (len(region) != 6 || !digits(region)) {
		return &payment.FieldError{Param: "region_code", Message: "must be a 6-digit GB/T 2260 code"}
	}
	if size != "" && size != "small" && size != "medium" && size != "large" {
		return &payment.FieldError{Param: "size", Message: "must be small, medium or large"}
	}
	return nil
}

func digits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// MoneyPolicy is a merchant's own commission and whether its payable may
// go negative (refunds after release that it cannot cover).
type MoneyPolicy struct {
	// CommissionBPS is the merchant's commission in basis points; -1 uses
	// its category's rate, else the default.
	CommissionBPS        int  `json:"commission_bps"`
	AllowNegativePayable bool `json:"allow_negative_payable"`
}

// Check reports whether p is a policy hutong can apply.
func (p MoneyPolicy) Check() error {
	if p.CommissionBPS < -1 || p.CommissionBPS > 10000 {
		return &payment.FieldError{Param: "commission_bps", Message: "must be 0 to 10000, or -1 for the category's rate"}
	}
	return nil
}

// Key is an authenticated API key: a merchant's, or a platform key
// (MerchantID "") that acts for any merchant it names.
type Key struct {
	ID         string
	MerchantID string
}

// Platform reports whether the key acts for any merchant.
func (k Key) Platform() bool { return k.MerchantID == "" }
