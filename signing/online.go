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

// WitnessSecretSize is the size of a witness's secret.
const WitnessSecretSize = 32

// DeriveWitness derives a witness's key for one shard from its secret. A
// witness has one key per shard, as the server has one online key per
// shard: a signature a witness gave one shard's timestamp never counts in
// another shard, so one shard's timestamp can never be replayed as
// another's to lock its clients out.
func DeriveWitness(secret []byte, name, shard string) (*Key, error) {
	if len(secret) != WitnessSecretSize {
		return nil, fmt.Errorf("witness secret is %d bytes; want %d", len(secret), WitnessSecretSize)
	}
	seed, err := hkdf.Key(sha256.New, secret, nil, "hallmark witness key v1|"+shard, 32)
	if err != nil {
		return nil, fmt.Errorf("failed to derive witness key: %w", err)
	}
	return FromSeed(seed, "witness "+name+" key of shard "+shard), nil
}
