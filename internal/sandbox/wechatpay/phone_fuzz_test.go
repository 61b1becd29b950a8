package wechatpay

import (
	"errors"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/sandbox/phone"
)

// FuzzPhoneCode feeds the phone wallet what a person may paste: Recognizes
// and Lookup take any text without panicking, Lookup changes no order, and
// a return URL is only ever an absolute http(s) URL.
func FuzzPhoneCode(f *testing.F) {
	s := fuzzSimulator(f)
	now := time.Now()
	o := &Order{
		Key: "fuzz-order", MchID: s.creds.MchID, AppID: s.creds.AppID, OutTradeNo: "FUZZ1", TradeType: TradeNative,
		Desc: "fuzz", NotifyURL: "https://merchant.example/n", Total: 1, Currency: "CNY", State: StateNotPay, CreatedAt: now,
		PrepayID: "wx" + now.Format("20060102150405") + "0123456789abcdef0123", CodeURL: "weixin://wxpay/bizpayurl?pr=fuzz000001",
	}
	s.mu.Lock()
	if err := s.putOrder(o); err != nil {
		f.Fatal(err)
	}
	s.mu.Unlock()
	h5 := "http://sandbox.test/phone/wechatpay/h5?prepay_id=" + o.PrepayID + "&package=1234567890"
	for _, seed := range []string{
		o.CodeURL, o.PrepayID, h5, h5 + "&redirect_url=" + url.QueryEscape("https://shop.example/back?x=1"),
		h5 + "&redirect_url=javascript:alert(1)", h5 + "&redirect_url=%zz", " " + o.CodeURL + "\n",
		"weixin://wxpay/bizpayurl?pr=", "wx", "http://[::1", "%", "?prepay_id=" + o.PrepayID, "",
	} {
		f.Add(seed)
	}
	wallet := s.Phone()
	for _, code := range []string{o.CodeURL, o.PrepayID, h5} {
		if _, err := wallet.Lookup(code); err != nil || !wallet.Recognizes(code) {
			f.Fatalf("%q: recognized %v, lookup %v", code, wallet.Recognizes(code), err)
		}
	}
	f.Fuzz(func(t *testing.T, code string) {
		s.mu.Lock()
		before := *o
		s.mu.Unlock()
		wallet.Recognizes(code)
		got, err := wallet.Lookup(code)
		s.mu.Lock()
		after := *o
		s.mu.Unlock()
		if !reflect.DeepEqual(before, after) {
			t.Fatalf("Lookup(%q) changed the order", code)
		}
		if err != nil {
			if !errors.Is(err, phone.ErrUnknownCode) && !errors.Is(err, phone.ErrBadCall) {
				t.Fatalf("Lookup(%q): %v", code, err)
			}
			return
		}
		if got.Code != o.PrepayID || got.Amount != o.Total {
			t.Fatalf("Lookup(%q) = %+v", code, got)
		}
		if got.ReturnURL != "" {
			u, err := url.Parse(got.ReturnURL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				t.Fatalf("return URL %q from %q", got.ReturnURL, code)
			}
		}
	})
}
