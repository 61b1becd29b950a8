package wechatpay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hutong-pay/hutong/internal/wechatpayv3"
)

// fieldLabels are the Chinese names the platform uses in PARAM_ERROR
// messages, keyed by JSON path.
var fieldLabels = map[string]string{
	"/appid": "应用ID", "/mchid": "直连商户号", "/sp_appid": "服务商应用ID", "/sp_mchid": "服务商户号",
	"/sub_appid": "子商户应用ID", "/sub_mchid": "子商户号", "/description": "商品描述",
	"/out_trade_no": "商户订单号", "/time_expire": "交易结束时间", "/attach": "附加数据",
	"/notify_url": "通知地址", "/amount": "订单金额", "/amount/total": "总金额", "/amount/currency": "货币类型",
	"/amount/refund": "退款金额", "/payer": "支付者", "/payer/openid": "用户标识", "/payer/sp_openid": "用户服务标识",
	"/payer/sub_openid": "用户子标识", "/scene_info": "场景信息", "/scene_info/payer_client_ip": "用户终端IP",
	"/scene_info/h5_info": "H5场景信息", "/scene_info/h5_info/type": "场景类型", "/out_refund_no": "商户退款单号",
	"/transaction_id": "微信支付订单号", "/reason": "退款原因", "/bill_date": "账单日期", "/bill_type": "账单类型",
	"/tar_type": "压缩类型", "/token": "下载令牌",
}

func label(path string) string {
	if l, ok := fieldLabels[path]; ok {
		return l
	}
	return strings.TrimPrefix(path, "/")
}

// paramError is a PARAM_ERROR naming the field, worded as the platform words
// it: 输入源“/body/amount/total”映射到值字段“总金额”必填性规则校验失败，此字段为必填项.
func paramError(location, path, issue string, value any) reply {
	msg := fmt.Sprintf("输入源“/%s%s”映射到值字段“%s”%s", location, path, label(path), issue)
	return reply{http.StatusBadRequest, &wechatpayv3.Error{
		Code:    wechatpayv3.CodeParamError,
		Message: msg,
		Detail:  &wechatpayv3.ErrorDetail{Field: path, Value: value, Location: location, Issue: issue},
	}}
}

func missing(location, path string) reply {
	return paramError(location, path, "必填性规则校验失败，此字段为必填项", nil)
}

// decodeBody decodes a JSON request body; a problem is a PARAM_ERROR that
// names the field.
func decodeBody(body []byte, v any) (reply, bool) {
	if len(bytes.TrimSpace(body)) == 0 {
		return reply{http.StatusBadRequest, &wechatpayv3.Error{Code: wechatpayv3.CodeParamError, Message: "请求体为空，应为 JSON 对象"}}, false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			path := "/" + strings.ReplaceAll(te.Field, ".", "/")
			return reply{http.StatusBadRequest, &wechatpayv3.Error{
				Code:    wechatpayv3.CodeParamError,
				Message: fmt.Sprintf("无法将 JSON 输入源“/body%s”映射到目标字段“%s”中，此字段需要一个合法的 %s", path, label(path), jsonKind(te.Type.Kind().String())),
				Detail:  &wechatpayv3.ErrorDetail{Field: path, Location: "body", Issue: "类型错误，应为 " + te.Type.String()},
			}}, false
		}
		return reply{http.StatusBadRequest, &wechatpayv3.Error{
			Code:    wechatpayv3.CodeParamError,
			Message: "请求体不是合法的 JSON 对象: " + err.Error(),
			Detail:  &wechatpayv3.ErrorDetail{Location: "body"},
		}}, false
	}
	if dec.More() {
		return reply{http.StatusBadRequest, &wechatpayv3.Error{Code: wechatpayv3.CodeParamError, Message: "请求体在 JSON 对象之后还有多余内容", Detail: &wechatpayv3.ErrorDetail{Location: "body"}}}, false
	}
	return reply{}, true
}

func jsonKind(k string) string {
	switch k {
	case "int64", "int", "int32":
		return "64 位有符号整数"
	case "string":
		return "字符串"
	case "struct", "ptr":
		return "JSON 对象"
	case "bool":
		return "布尔值"
	}
	return k
}

var outTradeNoPattern = regexp.MustCompile(`^[0-9A-Za-z_\-|*]{6,32}$`)
var outRefundNoPattern = regexp.MustCompile(`^[0-9A-Za-z_\-|*@]{1,64}$`)

func checkLen(path, v string, lo, hi int) (reply, bool) {
	n := utf8.RuneCountInString(v)
	if n == 0 && lo > 0 {
		return missing("body", path), false
	}
	if n < lo || n > hi {
		return paramError("body", path, fmt.Sprintf("长度规则校验失败，长度应在 %d 到 %d 之间", lo, hi), v), false
	}
	return reply{}, true
}

func checkURL(path, v string, required bool) (reply, bool) {
	if v == "" {
		if required {
			return missing("body", path), false
		}
		return reply{}, true
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(v) > 256 {
		return paramError("body", path, "格式规则校验失败，应为 256 字符以内的 http(s) 绝对地址", v), false
	}
	return reply{}, true
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
