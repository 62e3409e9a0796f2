package signing

import (
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
)

// OnlineSecretSize is the size of the server's online secret.
const OnlineSecretSize = 32

// DeriveOnline derives the online key of one role (timestamp, snapshot or
// new) of one shard from the server's online secret. Each shard gets its own
// keys, so metadata signed for one shard never verifies in another.
func DeriveOnline(secret []byte, shard, role string) (*Key, error) {
	if len(secret) != OnlineSecretSize {
		return nil, fmt.Errorf("online secret is %d bytes; want %d", len(secret), OnlineSecretSize)
	}
	seed, err := hkdf.Key(sha256.New, secret, nil, "hallmark online key v1|"+shard+"|"+role, 32)
	if err != nil {
		return nil, fmt.Errorf("failed to derive online key: %w", err)
	}
	return FromSeed(seed, "online "+role+" key of shard "+shard), nil
}
