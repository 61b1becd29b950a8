package alipay

import (
	"errors"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/sandbox/faults"
	"github.com/hutong-pay/hutong/internal/sandbox/journal"
	"github.com/hutong-pay/hutong/internal/sandbox/notify"
	"github.com/hutong-pay/hutong/internal/sandbox/phone"
	"github.com/hutong-pay/hutong/internal/sandbox/users"
)

// fuzzSimulator is one simulator shared by every input of a fuzz target.
func fuzzSimulator(f *testing.F) *Simulator {
	j, err := journal.Open(filepath.Join(f.TempDir(), "j"), journal.Options{NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { j.Close() })
	u, err := users.Open(j)
	if err != nil {
		f.Fatal(err)
	}
	fs, err := faults.Open(j, Wallet)
	if err != nil {
		f.Fatal(err)
	}
	n, err := notify.New(notify.Config{Journal: j})
	if err != nil {
		f.Fatal(err)
	}
	s, err := New(Config{Journal: j, Users: u, Notifier: n, Faults: fs, BaseURL: "http://sandbox.test"})
	if err != nil {
		f.Fatal(err)
	}
	return s
}

func httpResult(t *testing.T, what, s, frag string) {
	t.Helper()
	u, ok := phone.HTTPURL(s)
	if !ok || u.Fragment != frag {
		t.Fatalf("%s %q is not an http(s) URL ending #%s", what, s, frag)
	}
}

// FuzzBridgeCall feeds /phone/alipay/jsapi any query: a call is accepted
// only for a trade alipay.trade.create made; every URL it leads to is
// absolute http(s) with the result fragment; a refusal is ErrBadCall or
// ErrUnknownCode; and looking never changes the trade.
func FuzzBridgeCall(f *testing.F) {
	s := fuzzSimulator(f)
	now := time.Now().UTC()
	created := &Trade{Key: "2088621000000001|FUZZC1", SellerID: sandboxPID, AuthAppID: sandboxAppID, Method: "alipay.trade.create",
		OutTradeNo: "FUZZC1", TradeNo: "2026010122001000000000000001", Subject: "fuzz", Total: 100, Buyer: "buyer-li",
		Scanned: true, Status: StatusWaitBuyerPay, CreatedAt: now}
	pre := &Trade{Key: "2088621000000001|FUZZP1", SellerID: sandboxPID, AuthAppID: sandboxAppID, Method: "alipay.trade.precreate",
		OutTradeNo: "FUZZP1", TradeNo: "2026010122001000000000000002", Subject: "fuzz", Total: 100, QRCode: "https://qr.alipay.com/baxfuzz",
		Scanned: true, Status: StatusWaitBuyerPay, CreatedAt: now}
	s.mu.Lock()
	for _, t := range []*Trade{created, pre} {
		if err := s.putTrade(t); err != nil {
			f.Fatal(err)
		}
	}
	s.mu.Unlock()
	wallet := s.Phone()
	good := url.Values{"tradeNO": {created.TradeNo}, "return_url": {"https://shop.example/pay?x=1#frag"}}
	if _, err := wallet.Lookup("http://sandbox.test" + bridgePath + "?" + good.Encode()); err != nil {
		f.Fatalf("the seed call is refused: %v", err)
	}
	f.Add(good.Encode())
	f.Add("tradeNO=" + pre.TradeNo + "&return_url=https://shop.example/")
	f.Add("tradeNO=" + created.TradeNo + "&tradeNO=" + created.TradeNo + "&return_url=https://shop.example/")
	f.Add("tradeNO=" + created.TradeNo + "&return_url=javascript:alert(1)")
	f.Add("tradeNO=" + created.TradeNo + "&return_url=%zz")
	f.Add("return_url=http://x/")
	f.Add("")
	f.Fuzz(func(t *testing.T, rawQuery string) {
		link := "http://sandbox.test" + bridgePath + "?" + rawQuery
		s.mu.Lock()
		before := []Trade{*created, *pre}
		s.mu.Unlock()
		_, parseErr := parseBridgeCall(rawQuery)
		if parseErr != nil && !errors.Is(parseErr, phone.ErrBadCall) {
			t.Fatalf("parse refusal %v is not ErrBadCall", parseErr)
		}
		if _, err := url.Parse(link); err == nil && !wallet.Recognizes(link) {
			t.Fatalf("%q is not recognized", link)
		}
		got, err := wallet.Lookup(link)
		s.mu.Lock()
		after := []Trade{*created, *pre}
		s.mu.Unlock()
		if !reflect.DeepEqual(before, after) {
			t.Fatal("Lookup changed a trade")
		}
		if fail := wallet.(phone.Bridge).FailURL(link); fail != "" {
			httpResult(t, "fail URL", fail, bridgeFail)
		}
		if err != nil {
			if !errors.Is(err, phone.ErrBadCall) && !errors.Is(err, phone.ErrUnknownCode) {
				t.Fatalf("Lookup: %v", err)
			}
			return
		}
		if parseErr != nil {
			t.Fatalf("Lookup accepted what parse refused: %v", parseErr)
		}
		if got.Code != created.TradeNo || got.Payer != "buyer-li" {
			t.Fatalf("Lookup = %+v", got)
		}
		httpResult(t, "return URL", got.ReturnURL, bridgeOK)
		httpResult(t, "cancel URL", got.CancelURL, bridgeCancel)
	})
}

// FuzzUserAuthorize feeds publicAppAuthorize.htm any query: an accepted
// request names the sandbox app, known scopes and an http(s) redirect_uri;
// the page answers 200 or 400, never anything else.
func FuzzUserAuthorize(f *testing.F) {
	s := fuzzSimulator(f)
	h := s.Handler()
	f.Add(url.Values{"app_id": {sandboxAppID}, "scope": {"auth_base"}, "redirect_uri": {"https://shop.example/cb?x=1"}, "state": {"s"}}.Encode())
	f.Add(url.Values{"app_id": {sandboxAppID}, "scope": {"auth_base,auth_user,"}, "redirect_uri": {"//shop.example"}}.Encode())
	f.Add("app_id=%zz")
	f.Fuzz(func(t *testing.T, rawQuery string) {
		// A malformed query (the seed app_id=%zz) is part of the input: the
		// pairs that did parse are what the page sees too.
		q, _ := url.ParseQuery(rawQuery)
		if a, err := s.parseUserAuthorize(q); err == nil {
			if a.appID != sandboxAppID || len(a.state) > maxAuthState {
				t.Fatalf("accepted %+v", a)
			}
			for sc := range strings.SplitSeq(a.scope, ",") {
				if sc != "auth_base" && sc != "auth_user" {
					t.Fatalf("accepted scope %q", a.scope)
				}
			}
			if _, ok := phone.HTTPURL(a.redirect.String()); !ok {
				t.Fatalf("redirect to %q", a.redirect)
			}
		}
		req := httptest.NewRequest("GET", "/oauth2/publicAppAuthorize.htm", nil)
		req.URL.RawQuery = rawQuery
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 && rec.Code != 400 {
			t.Fatalf("authorization page: %d", rec.Code)
		}
	})
}
