package recon

import (
	"errors"
	"math"
	"strconv"
	"time"
)

// Fixed-point scales: amounts are fen (1/100 yuan), fees are kept exactly
// in micro-yuan (1/1,000,000 yuan = 1/10,000 fen) until rounded.
const (
	scaleFen    = 2
	scaleMicro  = 6
	microPerFen = 10_000
)

var (
	errNotDecimal = errors.New("not a decimal number")
	errTooPrecise = errors.New("too many decimals")
	errTooLarge   = errors.New("too large")
)

// parseFixed reads a yuan string such as "-12.34" or "0.74000" as an
// integer count of 10^-scale yuan, exactly: an optional minus sign, at
// least one digit, and optionally a dot followed by 1 to scale digits. No
// plus sign, spaces, exponent or grouping.
func parseFixed(b []byte, scale int) (int64, error) {
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg, b = true, b[1:]
	}
	var v int64
	i, digits := 0, 0
	for ; i < len(b) && b[i] != '.'; i++ {
		c := b[i]
		if c < '0' || c > '9' {
			return 0, errNotDecimal
		}
		if v > (math.MaxInt64-9)/10 {
			return 0, errTooLarge
		}
		v = v*10 + int64(c-'0')
		digits++
	}
	if digits == 0 {
		return 0, errNotDecimal
	}
	frac := 0
	if i < len(b) { // b[i] == '.'
		i++
		if i == len(b) {
			return 0, errNotDecimal
		}
		for ; i < len(b); i++ {
			c := b[i]
			if c < '0' || c > '9' {
				return 0, errNotDecimal
			}
			if frac == scale {
				return 0, errTooPrecise
			}
			if v > (math.MaxInt64-9)/10 {
				return 0, errTooLarge
			}
			v = v*10 + int64(c-'0')
			frac++
		}
	}
	for ; frac < scale; frac++ {
		if v > math.MaxInt64/10 {
			return 0, errTooLarge
		}
		v *= 10
	}
	if neg {
		v = -v
	}
	return v, nil
}

// microToFen rounds micro-yuan to fen, half to even.
func microToFen(micro int64) int64 {
	neg := micro < 0
	if neg {
		micro = -micro
	}
	q, r := micro/microPerFen, micro%microPerFen
	if r > microPerFen/2 || (r == microPerFen/2 && q%2 == 1) {
		q++
	}
	if neg {
		q = -q
	}
	return q
}

// addChecked adds to a running total, refusing overflow.
func addChecked(sum *int64, v int64) bool {
	s := *sum + v
	if (v > 0 && s < *sum) || (v < 0 && s > *sum) {
		return false
	}
	*sum = s
	return true
}

// formatFixed writes 10^-scale yuan as a decimal, for messages.
func formatFixed(v int64, scale int) string {
	u := uint64(v)
	sign := ""
	if v < 0 {
		sign, u = "-", -u
	}
	s := strconv.FormatUint(u, 10)
	for len(s) <= scale {
		s = "0" + s
	}
	return sign + s[:len(s)-scale] + "." + s[len(s)-scale:]
}

// dateCache speeds up parsing the bills' times: consecutive rows are
// usually on the same day.
type dateCache struct {
	date [10]byte
	ok   bool
	unix int64 // the day's midnight, Beijing time, as Unix seconds
}

// beijingOffset is UTC+8 in seconds.
const beijingOffset = 8 * 60 * 60

// parse reads "2006-01-02 15:04:05", Beijing time, strictly.
func (c *dateCache) parse(b []byte) (time.Time, bool) {
	if len(b) != 19 || b[4] != '-' || b[7] != '-' || b[10] != ' ' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	if !c.ok || string(b[:10]) != string(c.date[:]) {
		y, ok1 := num(b[0:4])
		m, ok2 := num(b[5:7])
		d, ok3 := num(b[8:10])
		if !ok1 || !ok2 || !ok3 || y < 1970 || m < 1 || m > 12 || d < 1 || d > daysIn(m, y) {
			return time.Time{}, false
		}
		copy(c.date[:], b[:10])
		c.unix = daysFromCivil(y, m, d)*86400 - beijingOffset
		c.ok = true
	}
	hh, ok1 := num(b[11:13])
	mm, ok2 := num(b[14:16])
	ss, ok3 := num(b[17:19])
	if !ok1 || !ok2 || !ok3 || hh > 23 || mm > 59 || ss > 59 {
		return time.Time{}, false
	}
	return time.Unix(c.unix+int64(hh*3600+mm*60+ss), 0).UTC(), true
}

func num(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(m, y int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil is the number of days from 1970-01-01 to y-m-d (Howard
// Hinnant's algorithm), for y ≥ 1970.
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era*146097+doe) - 719468
}

// validID is a wallet or merchant number: 1 to 64 printable ASCII
// characters, no spaces, commas or backticks. Both wallets' order and
// refund numbers are letters, digits and a few of _-|*@.
func validID(b []byte) bool {
	if len(b) == 0 || len(b) > 64 {
		return false
	}
	for _, c := range b {
		if c <= ' ' || c > '~' || c == ',' || c == '`' {
			return false
		}
	}
	return true
}

// validStatus is an upper-case status word like SUCCESS or REVOKED.
func validStatus(b []byte) bool {
	if len(b) == 0 || len(b) > 32 {
		return false
	}
	for _, c := range b {
		if (c < 'A' || c > 'Z') && c != '_' && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// interner keeps one copy of the few distinct values a column repeats on
// every row (merchant, status), so rows do not each allocate them.
type interner map[string]string

func (m interner) get(b []byte) string {
	if s, ok := m[string(b)]; ok { // no allocation
		return s
	}
	s := string(b)
	if len(m) < 256 {
		m[s] = s
	}
	return s
}
