// Package phone serves the sandbox's "phone": pages, sized for a phone
// screen, where a person plays the buyer without a phone or real money.
// They pick a sandbox user, "scan" a code by pasting its text or link or
// uploading its QR image (decoded here, on the server), see the order as
// the wallet app shows it, confirm with the PIN, and see the outcome and
// their history. WeChat's H5 pay links and Alipay's page/wap cashier land
// here and return to the merchant when done.
//
// Who pays is always on screen: the order page shows the payer, and every
// other sandbox user one tap away on the same order. A wallet's own pay link
// opens as the person holding the phone (UserCookie: the user whose pages
// were last opened in this browser), as a real wallet pays as whoever is
// signed in to it; a page that shows a code links to OpenPath, which may
// name the payer it expects (a cashier names its buyer).
//
// For pages opened "inside" a wallet, Consent is the wallets' authorization
// page (who holds the phone, for WeChat's web OAuth and Alipay's
// publicAppAuthorize), and static/bridge.js stands in for the in-app
// browsers' WeixinJSBridge and AlipayJSBridge: a payment call sends the
// browser to /phone/{wallet}/jsapi (wallets that implement Bridge), the
// person pays, and the page gets its result back in its URL's fragment.
//
// Every wallet the sandbox simulates plugs in through the Wallet interface.
// Links that no wallet recognizes are opened the way the wallet's in-app
// browser opens them, with its User-Agent marker (MicroMessenger,
// AlipayClient), so that a merchant's one-code-for-every-wallet page can
// tell which wallet scanned it.
package phone
