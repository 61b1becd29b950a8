package api

// CrashAt makes s stop idempotent requests at the steps crash names
// ("key_held": the key recorded, nothing run; "handled": the request's
// change made, its answer not yet recorded by the API), as a killed
// process would.
func CrashAt(s *Server, crash func(step string) bool) { s.crashAt = crash }
