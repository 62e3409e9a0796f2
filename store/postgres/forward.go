package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// Channels of the notifications replicas send each other: a request was
// forwarded to a shard (the payload is the shard), a forwarded request was
// answered (the payload is its id).
const (
	ChannelForwarded = "hallmark_forwarded"
	ChannelAnswered  = "hallmark_answered"
)

// Forwarded is a write one replica accepted for a shard that another
// replica publishes. Request and Result are opaque here: the server
// encodes them.
type Forwarded struct {
	ID      int64
	Shard   string
	Request []byte
}

// Forward queues a request to the publisher of a shard and notifies it.
// It returns the request's id, for ForwardedResult.
func (d *DB) Forward(ctx context.Context, shard string, request []byte, now time.Time) (int64, error) {
	var id int64
	err := d.pool.QueryRow(ctx, `WITH ins AS (INSERT INTO forwarded (shard, created, request) VALUES ($1, $2, $3) RETURNING id)
		SELECT id FROM ins, pg_notify($4, $1)`, shard, now, request, ChannelForwarded).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("failed to forward a request to the publisher of shard %s: %w", shard, err)
	}
	return id, nil
}

// OpenShards returns the shards that have forwarded requests waiting for
// a result.
func (d *DB) OpenShards(ctx context.Context) ([]string, error) {
	rows, err := d.pool.Query(ctx, `SELECT DISTINCT shard FROM forwarded WHERE result IS NULL`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// ClaimForwarded takes, for replica me, the requests forwarded to the
// given shards that no replica took yet.
func (d *DB) ClaimForwarded(ctx context.Context, me string, shards []string) ([]Forwarded, error) {
	if len(shards) == 0 {
		return nil, nil
	}
	rows, err := d.pool.Query(ctx, `UPDATE forwarded SET claimed_by = $1
		WHERE result IS NULL AND claimed_by IS NULL AND shard = ANY($2) RETURNING id, shard, request`, me, shards)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Forwarded, error) {
		var f Forwarded
		err := r.Scan(&f.ID, &f.Shard, &f.Request)
		return f, err
	})
}

// AbandonForwarded answers with result every request of the given shards
// that a replica other than me took and did not answer: that replica lost
// the shards' lease (it died), so nobody will. It returns how many.
func (d *DB) AbandonForwarded(ctx context.Context, me string, shards []string, result []byte) (int64, error) {
	tag, err := d.pool.Exec(ctx, `WITH a AS (UPDATE forwarded SET result = $3
		WHERE result IS NULL AND claimed_by IS NOT NULL AND claimed_by <> $1 AND shard = ANY($2) RETURNING id)
		SELECT pg_notify($4, id::text) FROM a`, me, shards, result, ChannelAnswered)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

// AnswerForwarded records the result of a forwarded request and notifies
// the replica waiting for it.
func (d *DB) AnswerForwarded(ctx context.Context, id int64, result []byte) error {
	_, err := d.pool.Exec(ctx, `WITH u AS (UPDATE forwarded SET result = $2 WHERE id = $1 RETURNING id)
		SELECT pg_notify($3, $4) FROM u`, id, result, ChannelAnswered, strconv.FormatInt(id, 10))
	return err
}

// ForwardedResult returns the result of a forwarded request; ok is false
// while it has none.
func (d *DB) ForwardedResult(ctx context.Context, id int64) (result []byte, claimed, ok bool, err error) {
	var by *string
	err = d.pool.QueryRow(ctx, `SELECT result, claimed_by FROM forwarded WHERE id = $1`, id).Scan(&result, &by)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, false, fmt.Errorf("forwarded request %d is gone", id)
	}
	return result, by != nil, err == nil && result != nil, err
}

// WithdrawForwarded deletes a forwarded request that no replica took yet,
// and reports whether it did.
func (d *DB) WithdrawForwarded(ctx context.Context, id int64) (bool, error) {
	tag, err := d.pool.Exec(ctx, `DELETE FROM forwarded WHERE id = $1 AND claimed_by IS NULL`, id)
	return tag.RowsAffected() == 1, err
}

// DeleteForwarded deletes a forwarded request once its result was read.
func (d *DB) DeleteForwarded(ctx context.Context, id int64) error {
	_, err := d.pool.Exec(ctx, `DELETE FROM forwarded WHERE id = $1`, id)
	return err
}

// OldForwarded deletes and returns the requests forwarded before t whose
// sender never collected them (it died while waiting).
func (d *DB) OldForwarded(ctx context.Context, before time.Time) ([][]byte, error) {
	rows, err := d.pool.Query(ctx, `DELETE FROM forwarded WHERE created < $1 RETURNING request`, before)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[[]byte])
}

// Listener receives the replicas' notifications on a connection of its
// own.
type Listener struct{ conn *pgx.Conn }

// Listen opens a Listener of ChannelForwarded and ChannelAnswered.
func Listen(ctx context.Context, url string) (*Listener, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("failed to connect to the database: %w", err)
	}
	if _, err := conn.Exec(ctx, `LISTEN `+ChannelForwarded+`; LISTEN `+ChannelAnswered); err != nil {
		conn.Close(ctx)
		return nil, fmt.Errorf("failed to listen to the replicas' notifications: %w", err)
	}
	return &Listener{conn: conn}, nil
}

// Next waits for the next notification and returns its channel and
// payload.
func (l *Listener) Next(ctx context.Context) (channel, payload string, err error) {
	n, err := l.conn.WaitForNotification(ctx)
	if err != nil {
		return "", "", err
	}
	return n.Channel, n.Payload, nil
}

// Close closes the listener's connection.
func (l *Listener) Close() { l.conn.Close(context.Background()) }
