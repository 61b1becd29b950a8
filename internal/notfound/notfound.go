// Package notfound is the error of a request that names an object its
// caller does not have. Every service returns it, and the API answers it
// as a 404 naming the request field, so it lives below them all: a service
// need not import another to say "no such thing".
package notfound

import "errors"

// Err is what every Error is to errors.Is: a lookup found nothing.
var Err = errors.New("not found")

// Error is a request field naming an object the caller does not have:
// "no payment pay_… for this merchant". Another merchant's object is
// answered exactly as one that does not exist (the id echoed is the one
// the caller sent), so a key cannot learn which ids other merchants hold.
// It is Err to errors.Is.
type Error struct {
	Param  string // the request field, e.g. "share_code", "id"
	Object string // what it names, e.g. "share code"
	ID     string // the id asked for
	// Scoped is a lookup among one merchant's objects.
	Scoped bool
	// Text, when set, is the whole message.
	Text string
}

func (e *Error) Error() string {
	if e.Text != "" {
		return e.Text
	}
	msg := "no " + e.Object
	if e.ID != "" {
		msg += " " + e.ID
	}
	if e.Scoped {
		msg += " for this merchant"
	}
	return msg
}

// Is makes every Error match Err, whatever it names.
func (e *Error) Is(target error) bool { return target == Err }

// ByID is the Error of an object looked up by its id from the request's
// path, among merchantID's objects ("" for any merchant's).
func ByID(object, id, merchantID string) error {
	return &Error{Param: "id", Object: object, ID: id, Scoped: merchantID != ""}
}
