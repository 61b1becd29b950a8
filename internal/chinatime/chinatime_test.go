package chinatime

import (
	"testing"
	"time"
)

func TestBeijingEdges(t *testing.T) {
	t.Parallel()
	// 16:30 UTC is half past midnight the next day in Beijing.
	utc := time.Date(2024, 9, 12, 16, 30, 0, 0, time.UTC)
	if got := RFC3339(utc); got != "2024-09-13T00:30:00+08:00" {
		t.Fatalf("RFC3339 = %s", got)
	}
	if got := DateTime(utc); got != "2024-09-13 00:30:00" {
		t.Fatalf("DateTime = %s", got)
	}
	if got := Date(utc); got != "2024-09-13" {
		t.Fatalf("Date = %s", got)
	}
	start, end, err := ParseDate("2024-09-13")
	if err != nil || !start.Equal(time.Date(2024, 9, 12, 16, 0, 0, 0, time.UTC)) || end.Sub(start) != 24*time.Hour {
		t.Fatalf("ParseDate = %v %v %v", start, end, err)
	}
	if start.Location() != time.UTC {
		t.Fatal("times inside hutong are UTC")
	}
	back, err := ParseDateTime("2024-09-13 00:30:00")
	if err != nil || !back.Equal(utc) {
		t.Fatalf("ParseDateTime = %v %v", back, err)
	}
	if _, _, err := ParseDate("2024-02-30"); err == nil {
		t.Fatal("accepted February 30th")
	}
}
