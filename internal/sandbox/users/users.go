// Package users is the sandbox's directory of people who pay: each sandbox
// user has a balance in each wallet and, in WeChat, an openid per appid.
//
// A user's openid for an appid is derived from both (as WeChat's are stable
// per user and app), so any appid the sandbox knows has an openid for every
// user without storing them up front.
package users

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/hutong-pay/hutong/internal/sandbox/journal"
)

// User is a sandbox payer.
type User struct {
	ID       string           `json:"id"`
	Name     string           `json:"name"`
	Balances map[string]int64 `json:"balances"` // wallet → fen
}

// ErrInsufficientBalance is returned by Debit when the balance is too low.
var ErrInsufficientBalance = errors.New("insufficient balance")

// ErrNoSuchUser is returned for an unknown user id.
var ErrNoSuchUser = errors.New("no such sandbox user")

const journalKind = "user"

// Directory holds the users, durable in the journal.
type Directory struct {
	j     *journal.Journal
	mu    sync.Mutex
	users map[string]*User
}

// Seed is the users a new sandbox starts with. The last one is nearly broke,
// for testing refusals for insufficient balance.
var Seed = []User{
	{ID: "buyer-zhang", Name: "张伟", Balances: map[string]int64{"wechatpay": 100_000_00, "alipay": 100_000_00}},
	{ID: "buyer-li", Name: "李娜", Balances: map[string]int64{"wechatpay": 50_000_00, "alipay": 50_000_00}},
	{ID: "buyer-wang", Name: "王芳", Balances: map[string]int64{"wechatpay": 20_000_00, "alipay": 20_000_00}},
	{ID: "buyer-broke", Name: "赵穷", Balances: map[string]int64{"wechatpay": 1_00, "alipay": 1_00}},
}

// Open loads the users, seeding them on first start.
func Open(j *journal.Journal) (*Directory, error) {
	d := &Directory{j: j, users: map[string]*User{}}
	err := j.Each(journalKind, func(_ string, raw json.RawMessage) error {
		var u User
		if err := json.Unmarshal(raw, &u); err != nil {
			return err
		}
		d.users[u.ID] = &u
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("users: load: %w", err)
	}
	if len(d.users) == 0 {
		for _, u := range Seed {
			u.Balances = cloneBalances(u.Balances)
			if err := j.Put(journalKind, u.ID, u); err != nil {
				return nil, err
			}
			d.users[u.ID] = &u
		}
	}
	return d, nil
}

func cloneBalances(m map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// List returns all users in id order.
func (d *Directory) List() []User {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]User, 0, len(d.users))
	for _, u := range d.users {
		cp := *u
		cp.Balances = cloneBalances(u.Balances)
		out = append(out, cp)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].ID < out[b].ID })
	return out
}

// Get returns one user.
func (d *Directory) Get(id string) (User, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	u, ok := d.users[id]
	if !ok {
		return User{}, fmt.Errorf("%w: %q", ErrNoSuchUser, id)
	}
	cp := *u
	cp.Balances = cloneBalances(u.Balances)
	return cp, nil
}

// Default is the user who pays when a test does not name one.
func (d *Directory) Default() string { return Seed[0].ID }

// Debit takes amount fen from the user's balance in wallet.
func (d *Directory) Debit(id, wallet string, amount int64) error {
	return d.adjust(id, wallet, -amount)
}

// Credit gives amount fen back (a refund).
func (d *Directory) Credit(id, wallet string, amount int64) error {
	return d.adjust(id, wallet, amount)
}

func (d *Directory) adjust(id, wallet string, delta int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	u, ok := d.users[id]
	if !ok {
		return fmt.Errorf("%w: %q", ErrNoSuchUser, id)
	}
	bal := u.Balances[wallet]
	if bal+delta < 0 {
		return fmt.Errorf("%w: %s has %d fen in %s, needs %d", ErrInsufficientBalance, id, bal, wallet, -delta)
	}
	next := *u
	next.Balances = cloneBalances(u.Balances)
	next.Balances[wallet] = bal + delta
	if err := d.j.Put(journalKind, id, next); err != nil {
		return err
	}
	*u = next
	return nil
}

// OpenID is the user's openid under a WeChat appid: 28 characters starting
// with "o", like the real ones.
func OpenID(userID, appID string) string {
	sum := sha256.Sum256([]byte("openid\x00" + appID + "\x00" + userID))
	return "o" + base64.RawURLEncoding.EncodeToString(sum[:])[:27]
}

// ByOpenID finds the user whose openid under appID is openid.
func (d *Directory) ByOpenID(appID, openid string) (User, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, u := range d.users {
		if OpenID(u.ID, appID) == openid {
			cp := *u
			cp.Balances = cloneBalances(u.Balances)
			return cp, true
		}
	}
	return User{}, false
}
