package notfound_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/hutong-pay/hutong/internal/notfound"
)

// TestError: the message names the object and, among one merchant's, says
// so; a wrapped Error is still Err and still an *Error.
func TestError(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		err  error
		want string
	}{
		{notfound.ByID("payment", "pay_1", "mch_1"), "no payment pay_1 for this merchant"},
		{notfound.ByID("reconciliation", "rr_1", ""), "no reconciliation rr_1"},
		{&notfound.Error{Param: "channel", Object: "agreement", Text: "no agreement yet"}, "no agreement yet"},
	} {
		if c.err.Error() != c.want {
			t.Errorf("%#v says %q, want %q", c.err, c.err.Error(), c.want)
		}
		wrapped := fmt.Errorf("reading: %w", c.err)
		var nf *notfound.Error
		if !errors.Is(wrapped, notfound.Err) || !errors.As(wrapped, &nf) {
			t.Errorf("%v is not notfound.Err or not an *Error", wrapped)
		}
	}
	if errors.Is(errors.New("no payment"), notfound.Err) {
		t.Error("another error is notfound.Err")
	}
}
