package wechatpayv3

// Error is the body of every non-2xx API v3 answer. Detail, when present,
// points at the offending field (for PARAM_ERROR).
type Error struct {
	Code    string       `json:"code"`
	Message string       `json:"message"`
	Detail  *ErrorDetail `json:"detail,omitempty"`
}

// ErrorDetail locates a parameter problem: location is "body", "query",
// "path" or "header"; field is a JSON-pointer-like path such as
// "/amount/total".
type ErrorDetail struct {
	Field    string `json:"field,omitempty"`
	Value    any    `json:"value,omitempty"`
	Issue    string `json:"issue,omitempty"`
	Location string `json:"location,omitempty"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Error codes the sandbox answers with, as the real platform names them.
const (
	CodeSignError          = "SIGN_ERROR"
	CodeParamError         = "PARAM_ERROR"
	CodeInvalidRequest     = "INVALID_REQUEST"
	CodeSystemError        = "SYSTEM_ERROR"
	CodeOrderNotExist      = "ORDER_NOT_EXIST"
	CodeResourceNotExists  = "RESOURCE_NOT_EXISTS"
	CodeOrderPaid          = "ORDERPAID"
	CodeOrderClosed        = "ORDER_CLOSED"
	CodeAppIDMchIDNotMatch = "APPID_MCHID_NOT_MATCH"
	CodeMchNotExists       = "MCH_NOT_EXISTS"
	CodeNoAuth             = "NO_AUTH"
	CodeNotEnough          = "NOT_ENOUGH"
	CodeNoStatementExist   = "NO_STATEMENT_EXIST"
	CodeFrequencyLimited   = "FREQUENCY_LIMITED"
)
