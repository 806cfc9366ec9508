package doctor

import (
	"crypto/sha1"
	"encoding/hex"
)

func sha1hex(s string) string {
	h := sha1.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}
