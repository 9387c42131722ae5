package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// Headers of a delivery.
const (
	SignatureHeader = "X-Scimbridge-Signature"
	EventIDHeader   = "X-Scimbridge-Event-Id"
)

// Sign computes the X-Scimbridge-Signature value of body sent at t:
// "t=UNIX,v1=HEX" with HEX the hex HMAC-SHA256, under each secret, of
// "UNIX.body" (the scheme Stripe and WorkOS use). During a rotation's
// overlap there are two secrets, and so two v1 values: a receiver that
// holds either one accepts the delivery.
func Sign(secrets [][]byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	var b strings.Builder
	b.WriteString("t=")
	b.WriteString(ts)
	for _, s := range secrets {
		m := hmac.New(sha256.New, s)
		m.Write([]byte(ts))
		m.Write([]byte{'.'})
		m.Write(body)
		b.WriteString(",v1=")
		b.WriteString(hex.EncodeToString(m.Sum(nil)))
	}
	return b.String()
}
