// Package useragent tells from a User-Agent header which wallet's in-app
// browser opened a page, so that one link or QR code can serve every payer:
// inside WeChat the page starts a WeChat Pay JSAPI payment, inside Alipay an
// Alipay one, and anywhere else it offers a choice or a QR code. It has no
// I/O.
//
// The wallets mark their browsers with a product token: WeChat with
// MicroMessenger/<version>, Alipay with AlipayClient/<version> or, in some
// containers and mini-programs, only AliApp(AP/<version>). Two look-alikes
// must not count as wallets: WeCom (wxwork/) carries MicroMessenger/ too but
// cannot start a WeChat Pay payment, and DingTalk, Taobao and the other
// Alibaba apps use AliApp( with their own code, not AP, and are not Alipay.
// A User-Agent is whatever the client says; this is for choosing what to
// show, never for deciding who paid.
package useragent

import "strings"

// Wallets, the values of Client.Wallet.
const (
	WeChatPay = "wechatpay"
	Alipay    = "alipay"
)

// Platforms, the values of Client.Platform besides "" (unknown).
const (
	IOS     = "ios"
	Android = "android"
	Harmony = "harmony"
	PC      = "pc"
)

// Client is what a User-Agent says about the browser that sent it.
type Client struct {
	// Wallet is WeChatPay or Alipay when the page is open inside that
	// wallet's app, so that its JSAPI can take the payment; "" otherwise.
	Wallet string
	// MiniProgram is set inside a mini-program's web-view, where a page
	// must hand the payment to the mini-program rather than call the JSAPI
	// itself.
	MiniProgram bool
	// WeCom is set inside WeCom (企业微信), which looks like WeChat but
	// cannot pay with WeChat Pay.
	WeCom bool
	// DingTalk is set inside DingTalk, an Alibaba app that is not Alipay.
	DingTalk bool
	// Platform is IOS, Android, Harmony (HarmonyOS NEXT, whose apps are not
	// the Android ones), PC, or "" when the User-Agent does not say.
	Platform string
	// Mobile is set on a phone or tablet, where a wallet app can be
	// installed and a payment handed to it, as opposed to a computer, which
	// needs a QR code.
	Mobile bool
	// AppVersion is the version of the app whose browser this is — the
	// wallet, WeCom or DingTalk — as it writes it ("8.0.50.2600"), or "".
	AppVersion string
}

// Classify reads a User-Agent header. It never fails: an empty or unknown
// User-Agent is a browser with no wallet.
func Classify(ua string) Client {
	var c Client
	switch {
	case strings.Contains(ua, "wxwork/"):
		c.WeCom, c.AppVersion = true, version(ua, "wxwork/")
	case strings.Contains(ua, "wxworklocal/"): // WeCom's private deployments
		c.WeCom, c.AppVersion = true, version(ua, "wxworklocal/")
	case strings.Contains(ua, "DingTalk/"):
		c.DingTalk, c.AppVersion = true, version(ua, "DingTalk/")
	case strings.Contains(ua, "MicroMessenger/"):
		c.Wallet, c.AppVersion = WeChatPay, version(ua, "MicroMessenger/")
	case strings.Contains(ua, "AlipayClient/"):
		c.Wallet, c.AppVersion = Alipay, version(ua, "AlipayClient/")
	case strings.Contains(ua, "AliApp(AP/"):
		c.Wallet, c.AppVersion = Alipay, version(ua, "AliApp(AP/")
	}
	c.MiniProgram = strings.Contains(ua, "miniProgram") || strings.Contains(ua, "MiniProgram")
	c.Platform = platform(ua)
	switch c.Platform {
	case IOS, Android:
		c.Mobile = true
	case PC:
	default:
		// HarmonyOS NEXT names the device: "(Phone; OpenHarmony 5.0)".
		c.Mobile = strings.Contains(ua, "Mobile") || strings.Contains(ua, "(Phone;") || strings.Contains(ua, "(Tablet;")
	}
	return c
}

// platform reads the operating system. The order matters: iOS browsers say
// "like Mac OS X", and HarmonyOS 2 to 4, which run the Android builds of the
// wallets, say both "Android" and "HarmonyOS".
func platform(ua string) string {
	has := func(s string) bool { return strings.Contains(ua, s) }
	switch {
	case has("OpenHarmony"):
		return Harmony
	case has("iPhone") || has("iPad") || has("iPod"):
		return IOS
	case has("Android"):
		return Android
	case has("HarmonyOS"):
		return Harmony
	case has("Windows") || has("Macintosh") || has("X11") || has("CrOS") || has("MacWechat"):
		return PC
	}
	return ""
}

// version is the dotted number right after the first marker in ua, or "".
func version(ua, marker string) string {
	rest := ua[strings.Index(ua, marker)+len(marker):]
	n := 0
	for n < len(rest) && n < 32 && (rest[n] == '.' || '0' <= rest[n] && rest[n] <= '9') {
		n++
	}
	return strings.Trim(rest[:n], ".")
}
