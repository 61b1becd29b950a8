package alipayapi

// Result is the common part of every answer object.
type Result struct {
	Code    string `json:"code"`
	Msg     string `json:"msg"`
	SubCode string `json:"sub_code,omitempty"`
	SubMsg  string `json:"sub_msg,omitempty"`
}

// Gateway codes and their fixed messages.
const (
	CodeSuccess            = "10000"
	CodeServiceUnavailable = "20000"
	CodeInsufficientAuth   = "20001"
	CodeMissingArguments   = "40001"
	CodeInvalidArguments   = "40002"
	CodeBusinessFailed     = "40004"
	CodeInsufficientPerm   = "40006"
)

// Msgs of the gateway codes, as the gateway writes them.
var Msgs = map[string]string{
	CodeSuccess:            "Success",
	CodeServiceUnavailable: "Service Currently Unavailable",
	CodeInsufficientAuth:   "Insufficient Token Permissions",
	CodeMissingArguments:   "Missing Required Arguments",
	CodeInvalidArguments:   "Invalid Arguments",
	CodeBusinessFailed:     "Business Failed",
	CodeInsufficientPerm:   "Insufficient Permissions",
}

// Success is the Result of a successful call.
var Success = Result{Code: CodeSuccess, Msg: Msgs[CodeSuccess]}

// Failure builds a failed Result with the gateway's message for code.
func Failure(code, subCode, subMsg string) Result {
	return Result{Code: code, Msg: Msgs[code], SubCode: subCode, SubMsg: subMsg}
}

// TimeFormat is how the gateway writes and reads times, in Beijing time.
const TimeFormat = "2006-01-02 15:04:05"
