package channel

import (
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Flow is how a buyer completes a method, which decides where a page may
// offer it.
type Flow string

const (
	// FlowQR: the buyer scans a code with the wallet's app; offered on a
	// computer.
	FlowQR Flow = "qr_code"
	// FlowMobileWeb: a phone's browser is sent into the wallet's app
	// (WeChat's H5, Alipay's wap); offered on a phone.
	FlowMobileWeb Flow = "mobile_web"
	// FlowDesktopWeb: a computer's browser is sent to the wallet's own
	// payment page (Alipay's page pay).
	FlowDesktopWeb Flow = "desktop_web"
	// FlowInWallet: the page is open inside the wallet's own browser and
	// pays there (JSAPI); it needs the payer's id in that wallet, which a
	// BuyerIdentifier learns.
	FlowInWallet Flow = "in_wallet"
	// FlowApp: a merchant's own app hands the payment to the wallet's SDK.
	FlowApp Flow = "app"
)

// Method is one way of paying with a wallet, named "<wallet>.<way>".
type Method struct {
	Name  string // "wechatpay.native"
	Title string // what a buyer reads on the button: "微信扫码支付"
	Flow  Flow
}

// Wallet is what hutong knows of a wallet apart from any account with it:
// its name, its methods, and how to speak of it. A wallet's package
// registers one when it is imported (as database/sql drivers do), and the
// gateway, the API and the pages ask the registry, never naming a wallet
// themselves; a third wallet is a new package that registers itself and
// a Connector for each account.
type Wallet struct {
	// Name is the channel of its payments, the first part of its methods'
	// names and the wallet's segment of /notify/{wallet}/{account}.
	Name string
	// Title names the wallet to buyers and merchants: "微信支付".
	Title string
	// Rank orders wallets on pages and in lists, lowest first.
	Rank int
	// Methods, in the order pages offer them.
	Methods []Method
}

var registry = struct {
	sync.RWMutex
	wallets map[string]Wallet
	methods map[string]string // method name → wallet name
}{wallets: map[string]Wallet{}, methods: map[string]string{}}

// Register makes a wallet known. It panics on a name or method already
// registered, or a method not named "<wallet>.<way>": both are mistakes in
// the program, found on start.
func Register(w Wallet) {
	registry.Lock()
	defer registry.Unlock()
	if w.Name == "" || strings.Contains(w.Name, ".") {
		panic(fmt.Sprintf("channel: wallet name %q must be non-empty and without a dot", w.Name))
	}
	if _, dup := registry.wallets[w.Name]; dup {
		panic("channel: wallet " + w.Name + " registered twice")
	}
	for _, m := range w.Methods {
		if !strings.HasPrefix(m.Name, w.Name+".") || len(m.Name) == len(w.Name)+1 {
			panic(fmt.Sprintf("channel: method %q of wallet %s must be named %s.<way>", m.Name, w.Name, w.Name))
		}
		if _, dup := registry.methods[m.Name]; dup {
			panic("channel: method " + m.Name + " registered twice")
		}
	}
	w.Methods = slices.Clone(w.Methods)
	registry.wallets[w.Name] = w
	for _, m := range w.Methods {
		registry.methods[m.Name] = w.Name
	}
}

// Wallets lists the registered wallets by rank, then name.
func Wallets() []Wallet {
	registry.RLock()
	defer registry.RUnlock()
	out := make([]Wallet, 0, len(registry.wallets))
	for _, w := range registry.wallets {
		out = append(out, w)
	}
	slices.SortFunc(out, func(a, b Wallet) int {
		if a.Rank != b.Rank {
			return a.Rank - b.Rank
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// LookupWallet finds a registered wallet by name.
func LookupWallet(name string) (Wallet, bool) {
	registry.RLock()
	defer registry.RUnlock()
	w, ok := registry.wallets[name]
	return w, ok
}

// MethodWallet names the wallet of a registered method.
func MethodWallet(method string) (string, bool) {
	registry.RLock()
	defer registry.RUnlock()
	w, ok := registry.methods[method]
	return w, ok
}

// LookupMethod finds a registered method by name.
func LookupMethod(method string) (Method, bool) {
	w, ok := MethodWallet(method)
	if !ok {
		return Method{}, false
	}
	wallet, _ := LookupWallet(w)
	for _, m := range wallet.Methods {
		if m.Name == method {
			return m, true
		}
	}
	return Method{}, false
}

// AllMethods lists every registered method, wallets by rank, each
// wallet's in its own order.
func AllMethods() []Method {
	var out []Method
	for _, w := range Wallets() {
		out = append(out, w.Methods...)
	}
	return out
}

// MethodNames lists the names of AllMethods.
func MethodNames() []string {
	ms := AllMethods()
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Name
	}
	return out
}

// MethodsOfFlow lists, wallets by rank, the methods paid in flow.
func MethodsOfFlow(flow Flow) []Method {
	var out []Method
	for _, m := range AllMethods() {
		if m.Flow == flow {
			out = append(out, m)
		}
	}
	return out
}

// InWalletMethod is the method a page open inside wallet's own browser
// pays with, "" when the wallet has none.
func InWalletMethod(wallet string) string {
	w, _ := LookupWallet(wallet)
	for _, m := range w.Methods {
		if m.Flow == FlowInWallet {
			return m.Name
		}
	}
	return ""
}
