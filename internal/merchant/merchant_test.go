package merchant

import (
	"errors"
	"testing"

	"github.com/hutong-pay/hutong/internal/payment"
)

// TestChecksNameTheField: a bad profile or money policy is a FieldError on
// the field at fault; a good one passes.
func TestChecksNameTheField(t *testing.T) {
	for _, c := range []struct {
		check func() error
		param string // "" when valid
	}{
		{Profile{Category: "grocery", RegionCode: "341322", Size: "small"}.Check, ""},
		{Profile{}.Check, ""},
		{Profile{RegionCode: "3413"}.Check, "region_code"},
		{Profile{RegionCode: "34132x"}.Check, "region_code"},
		{Profile{Size: "huge"}.Check, "size"},
		{Profile{Category: "a category far longer than thirty-two bytes"}.Check, "category"},
		{MoneyPolicy{CommissionBPS: -1}.Check, ""},
		{MoneyPolicy{CommissionBPS: 10000}.Check, ""},
		{MoneyPolicy{CommissionBPS: 10001}.Check, "commission_bps"},
		{MoneyPolicy{CommissionBPS: -2}.Check, "commission_bps"},
	} {
		err := c.check()
		var fe *payment.FieldError
		switch {
		case c.param == "" && err != nil:
			t.Errorf("want valid, got %v", err)
		case c.param != "" && (!errors.As(err, &fe) || fe.Param != c.param):
			t.Errorf("want a FieldError on %s, got %v", c.param, err)
		}
	}
}
