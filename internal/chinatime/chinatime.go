// Package chinatime is China Standard Time at the wallets' edges.
//
// hutong keeps every time in UTC. The wallets' protocols speak Beijing time
// (UTC+8): WeChat Pay's RFC 3339 times carry +08:00, Alipay's timestamps are
// "2006-01-02 15:04:05" in Beijing time, and a "bill date" is a Beijing
// calendar day. China has observed no daylight saving since 1991, so a fixed
// zone is exact and needs no tz database on the machine.
package chinatime

import "time"

// Location is UTC+8, named as the tz database names it.
var Location = time.FixedZone("Asia/Shanghai", 8*60*60)

// RFC3339 formats t as WeChat Pay writes times: 2024-09-12T10:04:05+08:00.
func RFC3339(t time.Time) string { return t.In(Location).Format(time.RFC3339) }

// DateTime formats t as Alipay and the bills write times: 2024-09-12 10:04:05.
func DateTime(t time.Time) string { return t.In(Location).Format(time.DateTime) }

// Date is the Beijing calendar day of t, as 2024-09-12.
func Date(t time.Time) string { return t.In(Location).Format(time.DateOnly) }

// ParseDate parses a Beijing calendar day and returns its first instant and
// the first instant of the next day.
func ParseDate(s string) (start, end time.Time, err error) {
	start, err = time.ParseInLocation(time.DateOnly, s, Location)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	return start.UTC(), start.AddDate(0, 0, 1).UTC(), nil
}

// ParseDateTime parses "2006-01-02 15:04:05" in Beijing time.
func ParseDateTime(s string) (time.Time, error) {
	t, err := time.ParseInLocation(time.DateTime, s, Location)
	return t.UTC(), err
}
