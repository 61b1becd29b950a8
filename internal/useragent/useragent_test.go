package useragent

import (
	"strings"
	"testing"
)

var cases = []struct {
	name string
	ua   string
	want Client
}{
	{"WeChat Android (the sandbox phone's)",
		"Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP2A; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.230 Mobile Safari/537.36 XWEB/1200079 MMWEBSDK/20240404 MicroMessenger/8.0.50.2600(0x28003257) WeChat/arm64 Weixin NetType/WIFI Language/zh_CN ABI/arm64",
		Client{Wallet: WeChatPay, Platform: Android, Mobile: true, AppVersion: "8.0.50.2600"}},
	{"WeChat iOS",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.50(0x1800323d) NetType/WIFI Language/zh_CN",
		Client{Wallet: WeChatPay, Platform: IOS, Mobile: true, AppVersion: "8.0.50"}},
	{"WeChat iPad",
		"Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.49(0x18003137) NetType/WIFI Language/zh_CN",
		Client{Wallet: WeChatPay, Platform: IOS, Mobile: true, AppVersion: "8.0.49"}},
	{"WeChat for Windows",
		"Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/81.0.4044.138 Safari/537.36 NetType/WIFI MicroMessenger/7.0.20.1781(0x6700143B) WindowsWechat(0x63090a13) XWEB/9129 Flue",
		Client{Wallet: WeChatPay, Platform: PC, AppVersion: "7.0.20.1781"}},
	{"WeChat for Mac",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) MicroMessenger/6.8.0(0x16080000) MacWechat/3.8.7(0x13080710) Safari/605.1.15 NetType/WIFI",
		Client{Wallet: WeChatPay, Platform: PC, AppVersion: "6.8.0"}},
	{"WeChat mini-program, Android",
		"Mozilla/5.0 (Linux; Android 13; V2227A Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/111.0.5563.116 Mobile Safari/537.36 XWEB/1110005 MMWEBSDK/20231202 MMWEBID/2247 MicroMessenger/8.0.47.2560(0x28002F30) WeChat/arm64 Weixin NetType/WIFI Language/zh_CN ABI/arm64 miniProgram/wx2f8c1b5a7d3e9f01",
		Client{Wallet: WeChatPay, MiniProgram: true, Platform: Android, Mobile: true, AppVersion: "8.0.47.2560"}},
	{"WeChat mini-program, iOS",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.49(0x18003131) NetType/4G Language/zh_CN miniProgram/wx2f8c1b5a7d3e9f01",
		Client{Wallet: WeChatPay, MiniProgram: true, Platform: IOS, Mobile: true, AppVersion: "8.0.49"}},
	{"WeChat mini-program, Windows",
		"Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/101.0.4951.64 Safari/537.36 NetType/WIFI MicroMessenger/7.0.20.1781(0x6700143B) WindowsWechat(0x63090a13) XWEB/9129 Flue MiniProgramEnv/Windows",
		Client{Wallet: WeChatPay, MiniProgram: true, Platform: PC, AppVersion: "7.0.20.1781"}},
	{"WeChat on HarmonyOS NEXT",
		"Mozilla/5.0 (Phone; OpenHarmony 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.0.0 Safari/537.36 ArkWeb/4.1.6.1 Mobile MicroMessenger/8.0.1.36(0xf80001f6) NetType/WIFI Language/zh_CN",
		Client{Wallet: WeChatPay, Platform: Harmony, Mobile: true, AppVersion: "8.0.1.36"}},
	{"WeChat on HarmonyOS 4 runs the Android app",
		"Mozilla/5.0 (Linux; Android 12; HarmonyOS; ALN-AL00; HMSCore 6.13.0.302) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.5735.196 Mobile Safari/537.36 XWEB/1220133 MMWEBSDK/20240501 MicroMessenger/8.0.50.2701(0x28003253) WeChat/arm64 Weixin NetType/5G Language/zh_CN ABI/arm64",
		Client{Wallet: WeChatPay, Platform: Android, Mobile: true, AppVersion: "8.0.50.2701"}},
	{"WeCom Android",
		"Mozilla/5.0 (Linux; Android 12; M2012K11AC Build/SKQ1.211006.001; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/89.0.4389.72 MQQBrowser/6.2 TBS/046291 Mobile Safari/537.36 wxwork/4.1.22 MicroMessenger/7.0.1 NetType/WIFI Language/zh Lang/zh ColorScheme/Light",
		Client{WeCom: true, Platform: Android, Mobile: true, AppVersion: "4.1.22"}},
	{"WeCom iOS mini-program",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 wxwork/4.1.16 MicroMessenger/7.0.1 Language/zh ColorScheme/Light miniProgram/wx2f8c1b5a7d3e9f01",
		Client{WeCom: true, MiniProgram: true, Platform: IOS, Mobile: true, AppVersion: "4.1.16"}},
	{"WeCom Windows",
		"Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/86.0.4240.198 Safari/537.36 wxwork/4.1.22 (MicroMessenger/6.2) WindowsWechat MailPlugin_Electron WeMail embeddisk",
		Client{WeCom: true, Platform: PC, AppVersion: "4.1.22"}},
	{"Alipay Android (the sandbox phone's)",
		"Mozilla/5.0 (Linux; U; Android 14; zh-CN; Pixel 8 Build/AP2A) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.230 Mobile Safari/537.36 AlipayClient/10.6.0.8000 Language/zh-Hans",
		Client{Wallet: Alipay, Platform: Android, Mobile: true, AppVersion: "10.6.0.8000"}},
	{"Alipay iOS",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Ariver/1.1.0 AliApp(AP/10.6.0.6000) Nebula WK RVKType(0) AlipayDefined(nt:WIFI,ws:390|844|3.0) AlipayClient/10.6.0.6000 Language/zh-Hans Region/CN NebulaX/1.0.0",
		Client{Wallet: Alipay, Platform: IOS, Mobile: true, AppVersion: "10.6.0.6000"}},
	{"Alipay mini-program, AliApp only",
		"Mozilla/5.0 (Linux; Android 13; 22081212C Build/TKQ1.220829.002; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/108.0.5359.128 MYWeb/0.11.0.240418170020 UWS/3.22.2.9999 UCBS/3.22.2.9999_220000000000 Mobile Safari/537.36 NebulaSDK/1.8.100112 Nebula AliApp(AP/10.6.0) MiniProgram Language/zh-Hans",
		Client{Wallet: Alipay, MiniProgram: true, Platform: Android, Mobile: true, AppVersion: "10.6.0"}},
	{"Taobao is AliApp but not Alipay",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 AliApp(TB/10.39.10) WindVane/8.7.2 1170x2532 WK",
		Client{Platform: IOS, Mobile: true}},
	{"DingTalk",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 AliApp(DingTalk/7.5.0) com.laiwang.DingTalk/32000000 Channel/201200 language/zh-Hans-CN UT4Aplus/0.0.6 WK",
		Client{DingTalk: true, Platform: IOS, Mobile: true, AppVersion: "7.5.0"}},
	{"Chrome on Windows",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
		Client{Platform: PC}},
	{"Chrome on Linux",
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
		Client{Platform: PC}},
	{"Safari on a Mac",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
		Client{Platform: PC}},
	{"Safari on an iPhone",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
		Client{Platform: IOS, Mobile: true}},
	{"Chrome on an Android tablet",
		"Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.122 Safari/537.36",
		Client{Platform: Android, Mobile: true}},
	{"Huawei browser on HarmonyOS NEXT",
		"Mozilla/5.0 (Phone; OpenHarmony 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.0.0 Safari/537.36 ArkWeb/4.1.6.1 Mobile HuaweiBrowser/5.0.4.300",
		Client{Platform: Harmony, Mobile: true}},
	{"KaiOS, an unknown mobile system",
		"Mozilla/5.0 (Mobile; rv:48.0) Gecko/48.0 Firefox/48.0 KAIOS/2.5",
		Client{Mobile: true}},
	{"empty", "", Client{}},
	{"curl", "curl/8.5.0", Client{}},
	{"garbage", "\x00\xff{{MicroMessenger}}", Client{}},
	{"marker without a version", "MicroMessenger/", Client{Wallet: WeChatPay}},
	{"marker with junk for a version", "AlipayClient/.x.1", Client{Wallet: Alipay}},
	{"AlipayHK's own marker is not Alipay's", "Mozilla/5.0 (Linux; Android 14) AlipayClientHK/10.3.0 Mobile", Client{Platform: Android, Mobile: true}},
}

func TestClassify(t *testing.T) {
	t.Parallel()
	for _, c := range cases {
		if got := Classify(c.ua); got != c.want {
			t.Errorf("%s:\n got %+v\nwant %+v", c.name, got, c.want)
		}
	}
}

func FuzzClassify(f *testing.F) {
	for _, c := range cases {
		f.Add(c.ua)
	}
	f.Add("MicroMessenger/" + strings.Repeat("9.", 40))
	f.Fuzz(func(t *testing.T, ua string) {
		c := Classify(ua)
		switch c.Wallet {
		case "", WeChatPay, Alipay:
		default:
			t.Fatalf("Classify(%q).Wallet = %q", ua, c.Wallet)
		}
		switch c.Platform {
		case "", IOS, Android, Harmony, PC:
		default:
			t.Fatalf("Classify(%q).Platform = %q", ua, c.Platform)
		}
		if (c.WeCom || c.DingTalk) && c.Wallet != "" {
			t.Fatalf("Classify(%q): %+v pays in an app that cannot", ua, c)
		}
		if c.Platform == PC && c.Mobile {
			t.Fatalf("Classify(%q): a mobile PC", ua)
		}
		if strings.Trim(c.AppVersion, "0123456789.") != "" || len(c.AppVersion) > 32 || !strings.Contains(ua, c.AppVersion) {
			t.Fatalf("Classify(%q).AppVersion = %q", ua, c.AppVersion)
		}
	})
}
