package store

import "time"

// nowFunc is the store's clock, for migration records.
var nowFunc = time.Now
