package phone

import (
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/hutong-pay/hutong/internal/sandbox/users"
)

// OpenPath is where a page that shows a wallet's code links, so that a
// person at one computer can "scan" it with the sandbox phone:
//
//	GET /phone/open?wallet=wechatpay&code=weixin://…&as=buyer-wang
//
// wallet is optional (the wallet that recognizes the code is taken); code is
// the code as the page shows it; as, optional, names the sandbox user the
// page expects to pay (a cashier names its buyer). The phone opens the order
// as that user when as is one of its users, else as the person holding the
// phone (UserCookie), else as the default user: see PayerFor.
const OpenPath = "/phone/open"

// PayerFor is the sandbox user a link opens the phone as: as, when it names
// a sandbox user; else the person holding the phone (UserCookie); else the
// default user. An as that names no sandbox user is ignored rather than
// refused: a merchant's buyer ids are its own, and only the demo's buyers
// are sandbox users too.
func PayerFor(r *http.Request, dir *users.Directory, as string) string {
	if as != "" {
		if u, err := dir.Get(as); err == nil {
			return u.ID
		}
	}
	return CurrentUser(r, dir)
}

// openAs serves OpenPath: it reads the link and sends the browser to the
// order page of the payer PayerFor chooses. A link it cannot read is
// explained on the phone's first page, naming what is wrong.
func (h *Handler) openAs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for _, k := range []string{"wallet", "code", "as"} {
		if len(q[k]) > 1 {
			h.scanFailed(w, r, fmt.Sprintf("链接里的 %s 出现了 %d 次 (parameter %s given more than once)", k, len(q[k]), k))
			return
		}
	}
	code := strings.TrimSpace(q.Get("code"))
	switch {
	case code == "":
		h.scanFailed(w, r, "链接缺少付款码 (the link has no code)")
		return
	case len(code) > maxCodeLen:
		h.scanFailed(w, r, fmt.Sprintf("付款码超过 %d 字节 (the code is too long)", maxCodeLen))
		return
	case !utf8.ValidString(code):
		h.scanFailed(w, r, "付款码不是有效的 UTF-8 文本 (the code is not UTF-8)")
		return
	}
	var wallet Wallet
	if name := q.Get("wallet"); name != "" {
		for _, x := range h.cfg.Wallets {
			if x.Name() == name {
				wallet = x
			}
		}
		if wallet == nil {
			h.scanFailed(w, r, fmt.Sprintf("没有这个钱包: %q (no such wallet)", truncate(name, 40)))
			return
		}
		if !wallet.Recognizes(code) {
			h.scanFailed(w, r, fmt.Sprintf("这不是%s的付款码: %s", wallet.Title(), truncate(code, 120)))
			return
		}
	} else {
		var found bool
		if wallet, found = h.recognize(code); !found {
			h.scanFailed(w, r, "没有钱包认得这个码: "+truncate(code, 120))
			return
		}
	}
	http.Redirect(w, r, orderPath(PayerFor(r, h.cfg.Users, q.Get("as")), wallet.Name(), code), http.StatusSeeOther)
}

// Initial is what a user's avatar shows: the first character of the name.
func Initial(name string) string {
	r, _ := utf8.DecodeRuneInString(strings.TrimSpace(name))
	if r == utf8.RuneError {
		return "?"
	}
	return string(r)
}
