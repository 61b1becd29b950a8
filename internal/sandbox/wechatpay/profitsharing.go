package wechatpay

import (
	"cmp"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxkeys"
	"github.com/hutong-pay/hutong/internal/wechatpayv3"
)

// Profit sharing (分账), /v3/profitsharing/: a payment made with
// settle_info.profit_sharing = true stays frozen at the platform; the
// merchant then shares parts of it with receivers it has added
// (receivers/add, receivers/delete), and unfreezes the rest to the merchant
// that was paid (unfreeze_unsplit, or orders/unfreeze).
//
// Both kinds of merchant use the same endpoints, told apart by sub_mchid
// ("直连商户不需要，服务商需要", as the API documents the field): a direct
// merchant sends none and shares its own (non-partner) payments; a service
// provider names the sub-merchant whose partner payment it shares. A
// request without sub_mchid for a partner payment is refused for want of
// it. Receivers and sharing orders are keyed by the calling mchid and the
// sub_mchid ("" for a direct merchant), so the two never mix.
//
// Money is int64 fen, kept on the order: Shared is reserved before a
// sharing order is stored (as Refunded is before a refund), so the shares
// never exceed what is unsplit, even concurrently; a refund of such an
// order may take only what was not shared. A sharing order is PROCESSING
// until its delay (the helper API's knob, 0 by default) has passed on the
// simulator's clock, decided when it is next read, so state survives a
// restart without timers.

// Sharing order states and receiver results, as the platform names them.
const (
	SharingProcessing = "PROCESSING"
	SharingFinished   = "FINISHED"
	DetailPending     = "PENDING"
	DetailSuccess     = "SUCCESS"
	DetailClosed      = "CLOSED"
)

// Receiver types and relation types the platform knows.
var (
	receiverTypes = []string{"MERCHANT_ID", "PERSONAL_OPENID", "PERSONAL_SUB_OPENID"}
	relationTypes = []string{"SERVICE_PROVIDER", "STORE", "STAFF", "STORE_OWNER", "PARTNER", "HEADQUARTER",
		"BRAND", "DISTRIBUTOR", "USER", "SUPPLIER", "CUSTOM"}
)

const (
	kindReceiver        = "wechatpay.ps_receiver"
	kindSharing         = "wechatpay.ps_order"
	kindSharingSettings = "wechatpay.ps_settings"

	// MaxSharingDelay bounds the helper API's sharing delay.
	MaxSharingDelay = 24 * time.Hour
	// The platform's limits, from the API v3 请求分账 document (partner
	// chapter8_1_1, and the direct merchant's alike): "对同一笔订单最多能发起
	// 50次分账请求，每次请求最多分给50个接收方". (wechatpay-go's comment still
	// says 20 requests, the limit of the older API v2 multiprofitsharing.)
	maxSharingReceivers = 50
	maxSharingsPerOrder = 50
	// MaxSharingRatioBasisPoints is the most of a payment that may be
	// shared to receivers, in total over all its sharing orders: 30%, the
	// platform's default maximum ratio (最大分账比例; a sub-merchant's is
	// read through GET /v3/profitsharing/merchant-configs/{sub_mchid} as
	// max_ratio in ten-thousandths, "比如2000表示20%"; a direct merchant's
	// is set in its merchant platform, 30% by default). What is unfrozen to
	// the paid merchant itself does not count. Beyond it the platform
	// answers 400 INVALID_REQUEST "分账金额超出最大分账比例", as merchants
	// report it does (the error table lists INVALID_REQUEST for every
	// business rule broken; there is no RATIO_EXCEED code).
	MaxSharingRatioBasisPoints = 3000
	// maxShareAmount bounds one receiver's amount (10^8 yuan), so that the
	// sum of 50 never overflows.
	maxShareAmount = 10_000_000_000
	// unfreezeDescription is how the platform describes the rest unfrozen
	// to the sub-merchant in a sharing order's receivers.
	unfreezeDescription = "解冻给分账方"
)

// Receiver is one receiver a service provider added for a sub-merchant.
type Receiver struct {
	Key            string    `json:"key"` // sp_mchid|sub_mchid|type|account
	SpMchID        string    `json:"sp_mchid"`
	SubMchID       string    `json:"sub_mchid"`
	AppID          string    `json:"appid"`
	SubAppID       string    `json:"sub_appid,omitempty"`
	Type           string    `json:"type"`
	Account        string    `json:"account"`
	Name           string    `json:"name,omitempty"` // decrypted
	RelationType   string    `json:"relation_type"`
	CustomRelation string    `json:"custom_relation,omitempty"`
	AddedAt        time.Time `json:"added_at"`
}

// SharingReceiver is one receiver's part of a sharing order.
type SharingReceiver struct {
	Type        string `json:"type"`
	Account     string `json:"account"`
	Amount      int64  `json:"amount"`
	Description string `json:"description"`
	Result      string `json:"result,omitempty"`
	FailReason  string `json:"fail_reason,omitempty"`
	DetailID    string `json:"detail_id,omitempty"`
}

// Sharing is one sharing order (or unfreeze request) of a transaction.
type Sharing struct {
	Key           string            `json:"key"` // sp_mchid|sub_mchid|out_order_no
	SpMchID       string            `json:"sp_mchid"`
	SubMchID      string            `json:"sub_mchid"`
	TransactionID string            `json:"transaction_id"`
	OrderKey      string            `json:"order_key"`
	OutOrderNo    string            `json:"out_order_no"`
	OrderID       string            `json:"order_id"`
	Unfreeze      bool              `json:"unfreeze,omitempty"` // an orders/unfreeze request
	Receivers     []SharingReceiver `json:"receivers"`
	State         string            `json:"state"`
	CreatedAt     time.Time         `json:"created_at"`
	FinishAt      time.Time         `json:"finish_at"`
	Fingerprint   string            `json:"fingerprint"`
}

// SharingSettings are the helper API's knobs of profit sharing.
type SharingSettings struct {
	// DelayMS is how long a sharing order stays PROCESSING, on the
	// simulator's clock; 0 finishes it at once.
	DelayMS int64 `json:"delay_ms"`
}

// profitSharing is the simulator's profit-sharing state, under s.mu.
type profitSharing struct {
	receivers map[string]*Receiver
	sharings  map[string]*Sharing
	settings  SharingSettings
}

func receiverKey(spMchID, subMchID, typ, account string) string {
	return spMchID + "|" + subMchID + "|" + typ + "|" + account
}

func sharingKey(spMchID, subMchID, outOrderNo string) string {
	return spMchID + "|" + subMchID + "|" + outOrderNo
}

// loadProfitSharing reads receivers, sharing orders and settings from the
// journal. Callers are New (no lock needed).
func (s *Simulator) loadProfitSharing() error {
	s.ps = profitSharing{receivers: map[string]*Receiver{}, sharings: map[string]*Sharing{}}
	j := s.cfg.Journal
	if _, err := j.Get(kindSharingSettings, "settings", &s.ps.settings); err != nil {
		return err
	}
	err := j.Each(kindReceiver, func(_ string, raw json.RawMessage) error {
		var r Receiver
		if err := json.Unmarshal(raw, &r); err != nil {
			return err
		}
		s.ps.receivers[r.Key] = &r
		return nil
	})
	if err != nil {
		return err
	}
	return j.Each(kindSharing, func(_ string, raw json.RawMessage) error {
		var sh Sharing
		if err := json.Unmarshal(raw, &sh); err != nil {
			return err
		}
		s.ps.sharings[sh.Key] = &sh
		return nil
	})
}

// SharingSettings returns the profit-sharing knobs.
func (s *Simulator) SharingSettings() SharingSettings {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ps.settings
}

// SetSharingSettings sets the profit-sharing knobs for sharing orders
// created from now on.
func (s *Simulator) SetSharingSettings(st SharingSettings) error {
	if st.DelayMS < 0 || time.Duration(st.DelayMS)*time.Millisecond > MaxSharingDelay {
		return fmt.Errorf("delay_ms must be between 0 and %d", MaxSharingDelay.Milliseconds())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.cfg.Journal.Put(kindSharingSettings, "settings", st); err != nil {
		return err
	}
	s.ps.settings = st
	return nil
}

// putSharing persists sh and, only if that worked, makes it the live
// state. Callers hold s.mu.
func (s *Simulator) putSharing(sh *Sharing) error {
	if err := s.cfg.Journal.Put(kindSharing, sh.Key, sh); err != nil {
		return err
	}
	if old, ok := s.ps.sharings[sh.Key]; ok {
		*old = *sh
		return nil
	}
	s.ps.sharings[sh.Key] = sh
	return nil
}

// advanceSharing finishes a sharing order whose delay has passed. Callers
// hold s.mu.
func (s *Simulator) advanceSharing(sh *Sharing) {
	if sh.State != SharingProcessing || s.now().Before(sh.FinishAt) {
		return
	}
	next := *sh
	next.State = SharingFinished
	next.Receivers = slices.Clone(sh.Receivers)
	for i := range next.Receivers {
		if next.Receivers[i].Result == DetailPending {
			next.Receivers[i].Result = DetailSuccess
		}
	}
	if err := s.putSharing(&next); err != nil {
		s.cfg.Logger.Error("wechatpay: finish sharing order", "key", sh.Key, "err", err)
	}
}

// unsplit is what of a profit-sharing order may still be shared or
// unfrozen: neither refunded, nor shared, nor unfrozen.
func unsplit(o *Order) int64 {
	if !o.ProfitSharing || o.SharingDone {
		return 0
	}
	return max(o.Total-o.Refunded-o.Shared, 0)
}

// sharedRefundLimit refuses a refund of a profit-sharing order beyond what
// was not shared to receivers (what is frozen, or was unfrozen to the
// sub-merchant): shared money comes back only through a return order, which
// the sandbox does not simulate. Callers hold s.mu.
func sharedRefundLimit(o *Order, amount int64) (reply, bool) {
	if !o.ProfitSharing || o.Shared == 0 {
		return reply{}, true
	}
	if left := o.Total - o.Refunded - o.Shared; amount > left {
		return fail(http.StatusForbidden, wechatpayv3.CodeNotEnough,
			"余额不足: 分账订单已分出 "+itoa(o.Shared)+" 分，可退 "+itoa(max(left, 0))+" 分；已分出的资金须先分账回退"), false
	}
	return reply{}, true
}

// parseSettleInfo reads a prepay's settle_info: {"profit_sharing": bool}.
func parseSettleInfo(raw json.RawMessage) (bool, reply, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return false, reply{}, true
	}
	var si struct {
		ProfitSharing *bool `json:"profit_sharing"`
	}
	if err := json.Unmarshal(raw, &si); err != nil {
		return false, paramError("body", "/settle_info/profit_sharing", "类型错误，应为含布尔值 profit_sharing 的 JSON 对象", nil), false
	}
	return si.ProfitSharing != nil && *si.ProfitSharing, reply{}, true
}

// ---- bodies ----

var (
	transactionIDPattern = regexp.MustCompile(`^[0-9]{1,32}$`)
	outOrderNoPattern    = regexp.MustCompile(`^[0-9A-Za-z_\-|*@]{1,64}$`)
	merchantIDPattern    = regexp.MustCompile(`^[0-9]{1,32}$`)
)

type receiverBody struct {
	SubMchID       string `json:"sub_mchid"`
	AppID          string `json:"appid"`
	SubAppID       string `json:"sub_appid"`
	Type           string `json:"type"`
	Account        string `json:"account"`
	Name           string `json:"name"`
	RelationType   string `json:"relation_type"`
	CustomRelation string `json:"custom_relation"`
}

type sharingBody struct {
	SubMchID        string                `json:"sub_mchid"`
	AppID           string                `json:"appid"`
	SubAppID        string                `json:"sub_appid"`
	TransactionID   string                `json:"transaction_id"`
	OutOrderNo      string                `json:"out_order_no"`
	Receivers       []sharingReceiverBody `json:"receivers"`
	UnfreezeUnsplit *bool                 `json:"unfreeze_unsplit"`
}

type sharingReceiverBody struct {
	Type        string `json:"type"`
	Account     string `json:"account"`
	Amount      *int64 `json:"amount"`
	Description string `json:"description"`
	Name        string `json:"name"` // encrypted; accepted as it comes
}

type unfreezeBody struct {
	SubMchID      string `json:"sub_mchid"`
	TransactionID string `json:"transaction_id"`
	OutOrderNo    string `json:"out_order_no"`
	Description   string `json:"description"`
}

// sharingForm is a checked sharing request.
type sharingForm struct {
	SubMchID      string
	AppID         string
	SubAppID      string
	TransactionID string
	OutOrderNo    string
	Receivers     []SharingReceiver
	Sum           int64
	Unfreeze      bool
	Fingerprint   string
}

// checkIDs checks the ids every sharing request names. sub_mchid is
// optional here: whether the payment needs one is known only once it is
// found (sharableOrder).
func checkIDs(subMchID, transactionID, outOrderNo string) (reply, bool) {
	switch {
	case subMchID != "" && !merchantIDPattern.MatchString(subMchID):
		return paramError("body", "/sub_mchid", "格式规则校验失败，应为数字商户号", subMchID), false
	case transactionID == "":
		return missing("body", "/transaction_id"), false
	case !transactionIDPattern.MatchString(transactionID):
		return paramError("body", "/transaction_id", "格式规则校验失败，应为 32 位以内的数字", transactionID), false
	case outOrderNo == "":
		return missing("body", "/out_order_no"), false
	case !outOrderNoPattern.MatchString(outOrderNo):
		return paramError("body", "/out_order_no", "格式规则校验失败，应为 1 到 64 位数字、字母或 _-|*@", outOrderNo), false
	}
	return reply{}, true
}

// parseSharing checks a POST /v3/profitsharing/orders body as the platform
// does, in the order of its fields. A problem is a PARAM_ERROR naming the
// field.
func parseSharing(b *sharingBody) (*sharingForm, reply, bool) {
	if rep, ok := checkIDs(b.SubMchID, b.TransactionID, b.OutOrderNo); !ok {
		return nil, rep, false
	}
	if b.AppID == "" {
		return nil, missing("body", "/appid"), false
	}
	if rep, ok := checkLen("/appid", b.AppID, 1, 32); !ok {
		return nil, rep, false
	}
	if rep, ok := checkLen("/sub_appid", b.SubAppID, 0, 32); !ok {
		return nil, rep, false
	}
	if len(b.Receivers) == 0 {
		return nil, missing("body", "/receivers"), false
	}
	if len(b.Receivers) > maxSharingReceivers {
		return nil, paramError("body", "/receivers", fmt.Sprintf("长度规则校验失败，分账接收方最多 %d 个", maxSharingReceivers), len(b.Receivers)), false
	}
	f := &sharingForm{SubMchID: b.SubMchID, AppID: b.AppID, SubAppID: b.SubAppID, TransactionID: b.TransactionID, OutOrderNo: b.OutOrderNo}
	seen := map[string]bool{}
	for i, r := range b.Receivers {
		path := func(field string) string { return fmt.Sprintf("/receivers/%d/%s", i, field) }
		switch {
		case r.Type == "":
			return nil, missing("body", path("type")), false
		case !slices.Contains(receiverTypes, r.Type):
			return nil, paramError("body", path("type"), "枚举规则校验失败，应为 "+strings.Join(receiverTypes, "、")+" 之一", r.Type), false
		case r.Account == "":
			return nil, missing("body", path("account")), false
		}
		if rep, ok := checkLen(path("account"), r.Account, 1, 64); !ok {
			return nil, rep, false
		}
		if r.Amount == nil {
			return nil, missing("body", path("amount")), false
		}
		if *r.Amount <= 0 || *r.Amount > maxShareAmount {
			return nil, paramError("body", path("amount"), "取值范围规则校验失败，应大于 0 且不超过 "+itoa(maxShareAmount), *r.Amount), false
		}
		if rep, ok := checkLen(path("description"), r.Description, 1, 80); !ok {
			return nil, rep, false
		}
		if seen[r.Type+"|"+r.Account] {
			return nil, paramError("body", path("account"), "取值规则校验失败，同一分账接收方在一次请求中只能出现一次", r.Account), false
		}
		seen[r.Type+"|"+r.Account] = true
		f.Receivers = append(f.Receivers, SharingReceiver{Type: r.Type, Account: r.Account, Amount: *r.Amount, Description: r.Description})
		f.Sum += *r.Amount
	}
	if b.UnfreezeUnsplit == nil {
		return nil, missing("body", "/unfreeze_unsplit"), false
	}
	f.Unfreeze = *b.UnfreezeUnsplit
	f.Fingerprint = fingerprint("orders", f)
	return f, reply{}, true
}

// parseUnfreeze checks a POST /v3/profitsharing/orders/unfreeze body.
func parseUnfreeze(b *unfreezeBody) (*sharingForm, reply, bool) {
	if rep, ok := checkIDs(b.SubMchID, b.TransactionID, b.OutOrderNo); !ok {
		return nil, rep, false
	}
	if rep, ok := checkLen("/description", b.Description, 1, 80); !ok {
		return nil, rep, false
	}
	f := &sharingForm{SubMchID: b.SubMchID, TransactionID: b.TransactionID, OutOrderNo: b.OutOrderNo, Unfreeze: true}
	f.Fingerprint = fingerprint("unfreeze", b)
	return f, reply{}, true
}

// ---- the API ----

var sharingNotExist = fail(http.StatusNotFound, wechatpayv3.CodeResourceNotExists, "记录不存在")

// addReceiver is POST /v3/profitsharing/receivers/add. Adding a receiver
// again updates it (the platform's add is idempotent). Without sub_mchid
// the receiver is the calling direct merchant's own.
func (s *Simulator) addReceiver(c *call) reply {
	var b receiverBody
	if rep, ok := decodeBody(c.body, &b); !ok {
		return rep
	}
	switch {
	case b.SubMchID != "" && !merchantIDPattern.MatchString(b.SubMchID):
		return paramError("body", "/sub_mchid", "格式规则校验失败，应为数字商户号", b.SubMchID)
	case b.AppID == "":
		return missing("body", "/appid")
	case b.Type == "":
		return missing("body", "/type")
	case !slices.Contains(receiverTypes, b.Type):
		return paramError("body", "/type", "枚举规则校验失败，应为 "+strings.Join(receiverTypes, "、")+" 之一", b.Type)
	case b.Account == "":
		return missing("body", "/account")
	case b.Type == "MERCHANT_ID" && !merchantIDPattern.MatchString(b.Account):
		return paramError("body", "/account", "格式规则校验失败，类型为 MERCHANT_ID 时应为商户号", b.Account)
	case b.Type == "MERCHANT_ID" && b.Name == "":
		return paramError("body", "/name", "必填性规则校验失败，类型为 MERCHANT_ID 时必须填写商户全称", nil)
	case b.RelationType == "":
		return missing("body", "/relation_type")
	case !slices.Contains(relationTypes, b.RelationType):
		return paramError("body", "/relation_type", "枚举规则校验失败，应为 "+strings.Join(relationTypes, "、")+" 之一", b.RelationType)
	case b.RelationType == "CUSTOM" && b.CustomRelation == "":
		return paramError("body", "/custom_relation", "必填性规则校验失败，relation_type 为 CUSTOM 时必填", nil)
	}
	if rep, ok := checkLen("/account", b.Account, 1, 64); !ok {
		return rep
	}
	if rep, ok := checkLen("/custom_relation", b.CustomRelation, 0, 10); !ok {
		return rep
	}
	name := ""
	if b.Name != "" {
		key, rep, ok := s.decryptionKey(c.r.Header.Get(wechatpayv3.HeaderSerial))
		if !ok {
			return rep
		}
		plain, err := decryptOAEP(key, b.Name)
		if err != nil || plain == "" || len(plain) > 1024 {
			return paramError("body", "/name", "解密失败，应以 Wechatpay-Serial 指明的平台公钥或平台证书做 RSA-OAEP 加密后 base64 编码", nil)
		}
		name = plain
	}
	if rep, ok := s.checkReceiverOwner(c.mchid, b.SubMchID, b.AppID, b.SubAppID, b.Type); !ok {
		return rep
	}
	switch b.Type {
	case "MERCHANT_ID":
		if payer := cmp.Or(b.SubMchID, c.mchid); b.Account == payer {
			return fail(http.StatusBadRequest, wechatpayv3.CodeInvalidRequest, "不能添加出资商户本身为分账接收方: "+payer)
		}
	case "PERSONAL_OPENID":
		if _, ok := s.cfg.Users.ByOpenID(b.AppID, b.Account); !ok {
			return fail(http.StatusBadRequest, wechatpayv3.CodeInvalidRequest, "无效请求: 分账接收方 openid 与 appid 不匹配")
		}
	case "PERSONAL_SUB_OPENID":
		if b.SubAppID == "" {
			return missing("body", "/sub_appid")
		}
		if _, ok := s.cfg.Users.ByOpenID(b.SubAppID, b.Account); !ok {
			return fail(http.StatusBadRequest, wechatpayv3.CodeInvalidRequest, "无效请求: 分账接收方 sub_openid 与 sub_appid 不匹配")
		}
	}
	r := &Receiver{
		Key: receiverKey(c.mchid, b.SubMchID, b.Type, b.Account), SpMchID: c.mchid, SubMchID: b.SubMchID,
		AppID: b.AppID, SubAppID: b.SubAppID, Type: b.Type, Account: b.Account, Name: name,
		RelationType: b.RelationType, CustomRelation: b.CustomRelation, AddedAt: s.now(),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.cfg.Journal.Put(kindReceiver, r.Key, r); err != nil {
		return systemError
	}
	s.ps.receivers[r.Key] = r
	out := map[string]string{"type": r.Type, "account": r.Account, "relation_type": r.RelationType}
	if r.SubMchID != "" {
		out["sub_mchid"] = r.SubMchID
	}
	if r.CustomRelation != "" {
		out["custom_relation"] = r.CustomRelation
	}
	if name != "" {
		// The platform answers the name encrypted to the merchant's own
		// certificate; the SDK decrypts it with the merchant key.
		ct, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, s.keys.merchantPub, []byte(name), nil)
		if err != nil {
			return systemError
		}
		out["name"] = base64.StdEncoding.EncodeToString(ct)
	}
	return answer(out)
}

// checkReceiverOwner checks whose receiver a receivers request is about:
// a sub-merchant of the calling service provider (with its appids), or,
// without sub_mchid, the calling direct merchant itself, whose receivers
// are never PERSONAL_SUB_OPENID (a direct merchant has no sub_appid).
func (s *Simulator) checkReceiverOwner(mchid, subMchID, appID, subAppID, typ string) (reply, bool) {
	if subMchID == "" {
		switch {
		case appID != s.creds.AppID:
			return fail(http.StatusBadRequest, wechatpayv3.CodeAppIDMchIDNotMatch, "appid和mch_id不匹配，请检查后再试"), false
		case subAppID != "":
			return paramError("body", "/sub_appid", "直连商户不需要子商户应用ID（sub_appid 仅服务商模式使用）", subAppID), false
		case typ == "PERSONAL_SUB_OPENID":
			return paramError("body", "/type", "直连商户不支持 PERSONAL_SUB_OPENID（需要服务商模式的 sub_mchid 与 sub_appid）", typ), false
		}
		return reply{}, true
	}
	if rep, ok := s.checkSubMerchant(mchid, subMchID); !ok {
		return rep, false
	}
	if appID != s.creds.AppID {
		return fail(http.StatusBadRequest, wechatpayv3.CodeAppIDMchIDNotMatch, "appid和mch_id不匹配，请检查后再试"), false
	}
	s.mu.Lock()
	own := s.subs[subMchID].SubAppID
	s.mu.Unlock()
	if subAppID != "" && subAppID != own {
		return fail(http.StatusBadRequest, wechatpayv3.CodeAppIDMchIDNotMatch, "sub_appid和sub_mchid不匹配，请检查后再试"), false
	}
	return reply{}, true
}

// deleteReceiver is POST /v3/profitsharing/receivers/delete: the receiver
// can no longer be shared to; sharing orders already made stand.
func (s *Simulator) deleteReceiver(c *call) reply {
	var b receiverBody
	if rep, ok := decodeBody(c.body, &b); !ok {
		return rep
	}
	switch {
	case b.SubMchID != "" && !merchantIDPattern.MatchString(b.SubMchID):
		return paramError("body", "/sub_mchid", "格式规则校验失败，应为数字商户号", b.SubMchID)
	case b.AppID == "":
		return missing("body", "/appid")
	case b.Type == "":
		return missing("body", "/type")
	case !slices.Contains(receiverTypes, b.Type):
		return paramError("body", "/type", "枚举规则校验失败，应为 "+strings.Join(receiverTypes, "、")+" 之一", b.Type)
	case b.Account == "":
		return missing("body", "/account")
	}
	if rep, ok := checkLen("/account", b.Account, 1, 64); !ok {
		return rep
	}
	if rep, ok := s.checkReceiverOwner(c.mchid, b.SubMchID, b.AppID, b.SubAppID, b.Type); !ok {
		return rep
	}
	key := receiverKey(c.mchid, b.SubMchID, b.Type, b.Account)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ps.receivers[key] == nil {
		return fail(http.StatusBadRequest, wechatpayv3.CodeInvalidRequest, "分账接收方不存在: "+b.Type+" "+b.Account)
	}
	if err := s.cfg.Journal.Delete(kindReceiver, key); err != nil {
		return systemError
	}
	delete(s.ps.receivers, key)
	out := map[string]string{"type": b.Type, "account": b.Account}
	if b.SubMchID != "" {
		out["sub_mchid"] = b.SubMchID
	}
	return answer(out)
}

// merchantConfig is GET /v3/profitsharing/merchant-configs/{sub_mchid}:
// the most of a sub-merchant's payment its service provider may share,
// in ten-thousandths.
func (s *Simulator) merchantConfig(c *call) reply {
	sub := c.r.PathValue("sub_mchid")
	if !merchantIDPattern.MatchString(sub) {
		return paramError("path", "/sub_mchid", "格式规则校验失败，应为数字商户号", sub)
	}
	if rep, ok := s.checkSubMerchant(c.mchid, sub); !ok {
		return fail(http.StatusForbidden, wechatpayv3.CodeNoAuth, "非服务商下的签约子商户: "+rep.body.(*wechatpayv3.Error).Message)
	}
	return answer(map[string]any{"sub_mchid": sub, "max_ratio": MaxSharingRatioBasisPoints})
}

// sharableOrder finds the transaction a sharing request names and checks
// that it can be shared: a partner payment of the calling service provider
// and the sub-merchant named, or without sub_mchid a direct payment of the
// calling merchant. what is 分账 or 解冻剩余资金. Callers hold s.mu.
func (s *Simulator) sharableOrder(spMchID, subMchID, transactionID, what string) (*Order, reply, bool) {
	o := s.byTxn[transactionID]
	if o != nil && o.MchID == spMchID && o.Partner && subMchID == "" {
		// A service provider's payment: the request must name its sub-merchant.
		return nil, missing("body", "/sub_mchid"), false
	}
	if o == nil || o.Partner != (subMchID != "") || o.MchID != spMchID || o.SubMchID != subMchID {
		return nil, fail(http.StatusBadRequest, wechatpayv3.CodeInvalidRequest,
			"非分账订单不支持"+what+"（"+whose(spMchID, subMchID)+"下没有微信支付订单号 "+transactionID+"）"), false
	}
	if o.State != StateSuccess && o.State != StateRefund {
		return nil, fail(http.StatusBadRequest, wechatpayv3.CodeInvalidRequest, "订单处理中，暂时无法"+what+"，请稍后再试: trade_state "+o.State), false
	}
	if !o.ProfitSharing {
		return nil, fail(http.StatusBadRequest, wechatpayv3.CodeInvalidRequest, "非分账订单不支持"+what+"（下单时未指定 settle_info.profit_sharing）"), false
	}
	return o, reply{}, true
}

func whose(mchid, subMchID string) string {
	if subMchID == "" {
		return "直连商户 " + mchid
	}
	return "服务商 " + mchid + " 与特约商户 " + subMchID
}

// idempotent answers a request whose out_order_no is taken: the same
// request again gets the same order. Callers hold s.mu.
func (s *Simulator) idempotent(old *Sharing, f *sharingForm) reply {
	s.advanceSharing(old)
	if old.Fingerprint != f.Fingerprint {
		return fail(http.StatusBadRequest, wechatpayv3.CodeInvalidRequest, "商户分账单号 "+f.OutOrderNo+" 已用于另一笔分账请求")
	}
	return answer(s.sharingJSON(old))
}

// createSharing is POST /v3/profitsharing/orders.
func (s *Simulator) createSharing(c *call) reply {
	var b sharingBody
	if rep, ok := decodeBody(c.body, &b); !ok {
		return rep
	}
	f, rep, ok := parseSharing(&b)
	if !ok {
		return rep
	}
	if f.SubMchID != "" {
		if rep, ok := s.checkSubMerchant(c.mchid, f.SubMchID); !ok {
			return rep
		}
	} else if f.SubAppID != "" {
		return paramError("body", "/sub_appid", "直连商户不需要子商户应用ID（sub_appid 仅服务商模式使用）", f.SubAppID)
	}
	if f.AppID != s.creds.AppID {
		return fail(http.StatusBadRequest, wechatpayv3.CodeAppIDMchIDNotMatch, "appid和mch_id不匹配，请检查后再试")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := sharingKey(c.mchid, f.SubMchID, f.OutOrderNo)
	if old := s.ps.sharings[key]; old != nil {
		return s.idempotent(old, f)
	}
	if f.SubAppID != "" && f.SubAppID != s.subs[f.SubMchID].SubAppID {
		return fail(http.StatusBadRequest, wechatpayv3.CodeAppIDMchIDNotMatch, "sub_appid和sub_mchid不匹配，请检查后再试")
	}
	o, rep, ok := s.sharableOrder(c.mchid, f.SubMchID, f.TransactionID, "分账")
	if !ok {
		return rep
	}
	if o.SharingDone {
		return fail(http.StatusForbidden, wechatpayv3.CodeNotEnough, "分账金额不足: 订单剩余资金已解冻给出资商户")
	}
	payer := payerOf(o)
	for _, r := range f.Receivers {
		if r.Type == "MERCHANT_ID" && r.Account == payer {
			return fail(http.StatusBadRequest, wechatpayv3.CodeInvalidRequest, "不能设置出资商户为分账接收方: "+payer)
		}
		if s.ps.receivers[receiverKey(c.mchid, f.SubMchID, r.Type, r.Account)] == nil {
			return fail(http.StatusBadRequest, wechatpayv3.CodeInvalidRequest, "分账接收方关系不存在，请检查参数中每个接收方的关系: "+r.Type+" "+r.Account)
		}
	}
	n := 0
	for _, sh := range s.ps.sharings {
		if sh.OrderKey == o.Key && !sh.Unfreeze {
			n++
		}
	}
	if n >= maxSharingsPerOrder {
		return fail(http.StatusBadRequest, wechatpayv3.CodeInvalidRequest, fmt.Sprintf("对同一笔订单最多能发起 %d 次分账请求", maxSharingsPerOrder))
	}
	left := unsplit(o)
	if f.Sum > left {
		return fail(http.StatusForbidden, wechatpayv3.CodeNotEnough, "分账金额不足: 请求分账 "+itoa(f.Sum)+" 分，剩余可分 "+itoa(left)+" 分")
	}
	if most := maxShared(o); o.Shared+f.Sum > most {
		return fail(http.StatusBadRequest, wechatpayv3.CodeInvalidRequest, fmt.Sprintf("分账金额超出最大分账比例: 最大分账比例 %d%%，订单金额 %d 分最多分出 %d 分，已分 %d 分，本次请求 %d 分",
			MaxSharingRatioBasisPoints/100, o.Total, most, o.Shared, f.Sum))
	}
	next := *o
	next.Shared += f.Sum
	receivers := f.Receivers
	if f.Unfreeze {
		rest := left - f.Sum
		next.Unfrozen, next.SharingDone = rest, true
		if rest > 0 {
			receivers = append(slices.Clip(receivers), SharingReceiver{Type: "MERCHANT_ID", Account: payer, Amount: rest, Description: unfreezeDescription})
		}
	}
	return s.storeSharing(&next, s.newSharing(key, o, f, receivers))
}

// maxShared is the most of o that may be shared to receivers in all:
// MaxSharingRatioBasisPoints of its amount, rounded down to the fen.
func maxShared(o *Order) int64 {
	return o.Total/10000*MaxSharingRatioBasisPoints + o.Total%10000*MaxSharingRatioBasisPoints/10000
}

// payerOf is the merchant whose money a sharing order of o moves, and to
// whom the rest is unfrozen: the sub-merchant of a partner payment, else
// the direct merchant.
func payerOf(o *Order) string {
	if o.Partner {
		return o.SubMchID
	}
	return o.MchID
}

// unfreezeSharing is POST /v3/profitsharing/orders/unfreeze: the rest of
// the transaction goes to the merchant paid, and it can no longer be shared.
func (s *Simulator) unfreezeSharing(c *call) reply {
	var b unfreezeBody
	if rep, ok := decodeBody(c.body, &b); !ok {
		return rep
	}
	f, rep, ok := parseUnfreeze(&b)
	if !ok {
		return rep
	}
	if f.SubMchID != "" {
		if rep, ok := s.checkSubMerchant(c.mchid, f.SubMchID); !ok {
			return rep
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := sharingKey(c.mchid, f.SubMchID, f.OutOrderNo)
	if old := s.ps.sharings[key]; old != nil {
		return s.idempotent(old, f)
	}
	o, rep, ok := s.sharableOrder(c.mchid, f.SubMchID, f.TransactionID, "解冻剩余资金")
	if !ok {
		return rep
	}
	rest := unsplit(o)
	if rest == 0 {
		return fail(http.StatusForbidden, wechatpayv3.CodeNotEnough, "分账金额为0: 订单已无待分账资金，无需再解冻剩余资金")
	}
	next := *o
	next.Unfrozen, next.SharingDone = rest, true
	receivers := []SharingReceiver{{Type: "MERCHANT_ID", Account: payerOf(o), Amount: rest, Description: b.Description}}
	return s.storeSharing(&next, s.newSharing(key, o, f, receivers))
}

// newSharing builds a sharing order. Callers hold s.mu.
func (s *Simulator) newSharing(key string, o *Order, f *sharingForm, receivers []SharingReceiver) *Sharing {
	now := s.now()
	day := now.In(chinatime.Location).Format("20060102")
	sh := &Sharing{
		Key: key, SpMchID: o.MchID, SubMchID: o.SubMchID, TransactionID: o.TransactionID, OrderKey: o.Key,
		OutOrderNo: f.OutOrderNo, OrderID: "3008" + sandboxkeys.Digits(6) + day + sandboxkeys.Digits(10),
		Unfreeze: f.Unfreeze && len(f.Receivers) == 0, State: SharingProcessing, CreatedAt: now,
		FinishAt: now.Add(time.Duration(s.ps.settings.DelayMS) * time.Millisecond), Fingerprint: f.Fingerprint,
	}
	for _, r := range receivers {
		r.Result = DetailPending
		r.DetailID = "3601" + sandboxkeys.Digits(6) + day + sandboxkeys.Digits(9)
		sh.Receivers = append(sh.Receivers, r)
	}
	return sh
}

// storeSharing stores the order's reservation, then the sharing order (so
// a crash between can only leave money reserved for nothing, never money
// shared twice), and answers it. Callers hold s.mu.
func (s *Simulator) storeSharing(next *Order, sh *Sharing) reply {
	if err := s.putOrder(next); err != nil {
		return systemError
	}
	if err := s.putSharing(sh); err != nil {
		return systemError
	}
	s.advanceSharing(sh) // without a delay, finished now
	return answer(s.sharingJSON(s.ps.sharings[sh.Key]))
}

// querySharing is GET /v3/profitsharing/orders/{out_order_no}.
func (s *Simulator) querySharing(c *call) reply {
	q := c.r.URL.Query()
	sub, txn, no := q.Get("sub_mchid"), q.Get("transaction_id"), c.r.PathValue("out_order_no")
	switch {
	case sub != "" && !merchantIDPattern.MatchString(sub):
		return paramError("query", "/sub_mchid", "格式规则校验失败，应为数字商户号", sub)
	case txn == "":
		return missing("query", "/transaction_id")
	case !outOrderNoPattern.MatchString(no):
		return paramError("path", "/out_order_no", "格式规则校验失败，应为 1 到 64 位数字、字母或 _-|*@", no)
	}
	if sub != "" { // a direct merchant names none: its own sharing orders
		if rep, ok := s.checkSubMerchant(c.mchid, sub); !ok {
			return rep
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sh := s.ps.sharings[sharingKey(c.mchid, sub, no)]
	if sh == nil || sh.TransactionID != txn {
		return sharingNotExist
	}
	s.advanceSharing(sh)
	return answer(s.sharingJSON(sh))
}

// sharingAmounts is GET /v3/profitsharing/transactions/{transaction_id}/amounts.
func (s *Simulator) sharingAmounts(c *call) reply {
	txn := c.r.PathValue("transaction_id")
	if !transactionIDPattern.MatchString(txn) {
		return paramError("path", "/transaction_id", "格式规则校验失败，应为 32 位以内的数字", txn)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.byTxn[txn]
	if o == nil || o.MchID != c.mchid {
		return sharingNotExist
	}
	return answer(map[string]any{"transaction_id": txn, "unsplit_amount": unsplit(o)})
}

// sharingJSON is a sharing order as the API presents it.
type sharingJSON struct {
	SubMchID      string                `json:"sub_mchid,omitempty"` // a service provider's only
	TransactionID string                `json:"transaction_id"`
	OutOrderNo    string                `json:"out_order_no"`
	OrderID       string                `json:"order_id"`
	State         string                `json:"state"`
	Receivers     []sharingReceiverJSON `json:"receivers"`
}

type sharingReceiverJSON struct {
	Amount      int64  `json:"amount"`
	Description string `json:"description"`
	Type        string `json:"type"`
	Account     string `json:"account"`
	Result      string `json:"result"`
	FailReason  string `json:"fail_reason,omitempty"`
	DetailID    string `json:"detail_id"`
	CreateTime  string `json:"create_time"`
	FinishTime  string `json:"finish_time,omitempty"`
}

func (s *Simulator) sharingJSON(sh *Sharing) sharingJSON {
	out := sharingJSON{SubMchID: sh.SubMchID, TransactionID: sh.TransactionID, OutOrderNo: sh.OutOrderNo, OrderID: sh.OrderID, State: sh.State,
		Receivers: []sharingReceiverJSON{}}
	for _, r := range sh.Receivers {
		j := sharingReceiverJSON{Amount: r.Amount, Description: r.Description, Type: r.Type, Account: r.Account,
			Result: r.Result, FailReason: r.FailReason, DetailID: r.DetailID, CreateTime: chinatime.RFC3339(sh.CreatedAt)}
		if r.Result != DetailPending {
			j.FinishTime = chinatime.RFC3339(sh.FinishAt)
		}
		out.Receivers = append(out.Receivers, j)
	}
	return out
}

// Sharings lists the sharing orders of a transaction, oldest first, for
// the helper API and tests.
func (s *Simulator) Sharings(transactionID string) []Sharing {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Sharing
	for _, sh := range s.ps.sharings {
		if sh.TransactionID == transactionID {
			s.advanceSharing(sh)
			out = append(out, *sh)
		}
	}
	slices.SortFunc(out, func(a, b Sharing) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out
}

func init() {
	fieldLabels["/settle_info/profit_sharing"] = "是否指定分账"
	fieldLabels["/out_order_no"] = "商户分账单号"
	fieldLabels["/receivers"] = "分账接收方列表"
	fieldLabels["/unfreeze_unsplit"] = "是否解冻剩余未分资金"
	fieldLabels["/type"] = "分账接收方类型"
	fieldLabels["/account"] = "分账接收方账号"
	fieldLabels["/name"] = "分账个人接收方姓名"
	fieldLabels["/relation_type"] = "与分账方的关系类型"
	fieldLabels["/custom_relation"] = "自定义的分账关系"
	for i := range maxSharingReceivers {
		for f, l := range map[string]string{"type": "分账接收方类型", "account": "分账接收方账号", "amount": "分账金额", "description": "分账描述"} {
			fieldLabels[fmt.Sprintf("/receivers/%d/%s", i, f)] = l
		}
	}
}
