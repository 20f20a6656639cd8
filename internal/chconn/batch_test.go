package chconn_test

import (
	"context"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/chtest"
)

// A batch's context is cancelled as soon as Send returns, as every role
// does with a deferred cancel. The connection then goes back to the pool
// and must stay usable: clickhouse-go before v2.51 could close it from its
// context watchdog a moment later, and the next statement on the pool
// failed with "use of closed network connection". The race is timing
// bound: with v2.50 this test failed 4 runs in 5 at 3,000 rounds (at
// rounds 305 to 2,330); 10,000 rounds take 8 s. The statements run one at
// a time, so each reuses the connection the batch just gave back.
func TestCancelAfterSendKeepsThePooledConnection(t *testing.T) {
	ch := chtest.Scratch(t, "ioc_chconn_batch")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := ch.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Exec(ctx, "CREATE DATABASE "+ch.Database); err != nil {
		t.Fatal(err)
	}
	if err := conn.Exec(ctx, "CREATE TABLE "+ch.Table("t")+" (n UInt32) ENGINE = Memory"); err != nil {
		t.Fatal(err)
	}
	const rounds = 10000
	for i := range rounds {
		bctx, bcancel := context.WithCancel(ctx)
		b, err := conn.PrepareBatch(bctx, "INSERT INTO "+ch.Table("t")+" (n)")
		if err != nil {
			bcancel()
			t.Fatalf("round %d: preparing the batch: %v", i, err)
		}
		if err := b.Append(uint32(i)); err != nil {
			bcancel()
			t.Fatal(err)
		}
		err = b.Send()
		bcancel()
		if err != nil {
			t.Fatalf("round %d: sending the batch: %v", i, err)
		}
		if err := conn.Exec(ctx, "SELECT 1"); err != nil {
			t.Fatalf("round %d of %d: the statement after a batch whose context was cancelled failed: %v", i, rounds, err)
		}
	}
}
