package githook

import (
	"fmt"
	"mime"
	"net/url"
)

// GitHubPayload returns the JSON document of a GitHub delivery. GitHub's
// webhook form offers two content types and defaults to the form one:
// application/json sends the document as the body; with
// application/x-www-form-urlencoded the body is "payload=" and the
// document, percent-encoded. Both are signed over the raw body, so call it
// after VerifyGitHub, on the bytes that were verified. Other content types
// are refused: a hook set up that way would never deliver a push.
func GitHubPayload(contentType string, body []byte) ([]byte, error) {
	mt, _, err := mime.ParseMediaType(contentType)
	if contentType == "" {
		mt, err = "application/json", nil // curl and old hooks send none
	}
	if err != nil {
		return nil, fmt.Errorf("content type %q is not a media type", truncate(contentType, 80))
	}
	switch mt {
	case "application/json":
		return body, nil
	case "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, fmt.Errorf("the form body is not valid: %v", err)
		}
		p, ok := form["payload"]
		if !ok || len(p) != 1 {
			return nil, fmt.Errorf("a form-encoded delivery carries its JSON in exactly one payload field")
		}
		return []byte(p[0]), nil
	default:
		return nil, fmt.Errorf("content type %q is not one GitHub sends: set the webhook's content type to application/json", truncate(mt, 80))
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
