package api

// Route is one served route, for the tests of package api_test.
type Route struct {
	Method, Pattern string
	Public          bool // no authentication
	SelfOrAdmin     bool // open to non-admins about themselves
	Operator        bool // an operator token's, not an organization's
}

// Routes is the route table that Mount registers.
func Routes() []Route {
	out := make([]Route, 0, len(routes))
	for _, r := range routes {
		out = append(out, Route{Method: r.method, Pattern: r.pattern, Public: r.guard == public, SelfOrAdmin: r.guard == selfOrAdmin, Operator: r.guard == operator})
	}
	return out
}

// OpenAPIDoc is the embedded document.
func OpenAPIDoc() []byte { return openAPIDoc }
