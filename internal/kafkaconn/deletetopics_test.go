package kafkaconn_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/internal/kafkatest"
	"github.com/sonla-ioc/ioc/internal/testpoll"
)

// DeleteTopicsWithPrefix deletes a run's topics and no other, and refuses
// an empty prefix (it would name every topic of the cluster).
func TestDeleteTopicsWithPrefix(t *testing.T) {
	if _, err := (&kafkaconn.Config{Brokers: []string{"127.0.0.1:1"}}).DeleteTopicsWithPrefix(context.Background()); err == nil {
		t.Fatal("an empty prefix was accepted")
	}
	mine := kafkatest.Topics(t, "deltopics", 1, "a", "b")
	other := kafkatest.Topics(t, "deltopicsother", 1, "a")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	deleted, err := mine.DeleteTopicsWithPrefix(ctx)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(deleted)
	if want := []string{mine.Topic("a"), mine.Topic("b")}; !slices.Equal(deleted, want) {
		t.Fatalf("deleted %v, want %v", deleted, want)
	}
	testpoll.Eventually(t, 30*time.Second, "the other run's topic is still there, ours are gone", func() (bool, string) {
		client, release := other.NewClient(10 * time.Second)
		defer release()
		var names, ours []string
		md, err := client.Metadata(ctx, &kafka.MetadataRequest{})
		if err != nil {
			return false, err.Error()
		}
		for _, tp := range md.Topics {
			names = append(names, tp.Name)
			if strings.HasPrefix(tp.Name, "deltopics") {
				ours = append(ours, tp.Name)
			}
		}
		return slices.Contains(names, other.Topic("a")) && !slices.Contains(names, mine.Topic("a")) && !slices.Contains(names, mine.Topic("b")),
			"deltopics… topics: " + strings.Join(ours, ", ")
	})
}
