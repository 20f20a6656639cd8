package kafkaconn_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sonla-ioc/ioc/internal/kafkaconn"
)

// notLeader is Kafka's NOT_LEADER_OR_FOLLOWER error code.
const notLeader = 6

// A KRaft broker names itself the leader of a new partition in its metadata
// a moment before its replica manager holds the partition; a write in that
// moment is refused with "Not Leader For Partition" (a CI run met it in
// TestLimitMetadataKeepsOnlyTheNamedTopics). kfake plays such a broker: its
// metadata names a leader at once, but the leader refuses the first
// requests for the partition. EnsureTopics must return only once the leader
// serves it, so that a writer that does not retry succeeds right after.
func TestEnsureTopicsWaitsUntilTheLeaderServes(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatalf("starting kfake: %v", err)
	}
	defer cluster.Close()
	const notYet = 3
	var refused atomic.Int32
	refuse := func(req kmsg.Request) (kmsg.Response, error, bool) {
		if refused.Load() >= notYet {
			return nil, nil, false
		}
		cluster.KeepControl()
		refused.Add(1)
		switch r := req.(type) {
		case *kmsg.ProduceRequest:
			resp := r.ResponseKind().(*kmsg.ProduceResponse)
			for _, rt := range r.Topics {
				st := kmsg.NewProduceResponseTopic()
				st.Topic = rt.Topic
				for _, rp := range rt.Partitions {
					sp := kmsg.NewProduceResponseTopicPartition()
					sp.Partition, sp.ErrorCode = rp.Partition, notLeader
					st.Partitions = append(st.Partitions, sp)
				}
				resp.Topics = append(resp.Topics, st)
			}
			return resp, nil, true
		case *kmsg.ListOffsetsRequest:
			resp := r.ResponseKind().(*kmsg.ListOffsetsResponse)
			for _, rt := range r.Topics {
				st := kmsg.NewListOffsetsResponseTopic()
				st.Topic = rt.Topic
				for _, rp := range rt.Partitions {
					sp := kmsg.NewListOffsetsResponseTopicPartition()
					sp.Partition, sp.ErrorCode = rp.Partition, notLeader
					st.Partitions = append(st.Partitions, sp)
				}
				resp.Topics = append(resp.Topics, st)
			}
			return resp, nil, true
		}
		return nil, nil, false
	}
	cluster.ControlKey(int16(kmsg.Produce), refuse)
	cluster.ControlKey(int16(kmsg.ListOffsets), refuse)

	kc := kafkaconn.Config{Brokers: cluster.ListenAddrs(), TopicPrefix: "leaders.", Partitions: 2}
	kc.Defaults()
	kc.ReplicationFactor = 1
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := kc.EnsureTopics(ctx, "readings"); err != nil {
		t.Fatalf("creating the topic: %v", err)
	}
	if n := refused.Load(); n < notYet {
		t.Fatalf("EnsureTopics returned after %d refused requests; the leader refuses %d", n, notYet)
	}
	w := kc.NewWriter(kafkaconn.WriterOptions{MaxAttempts: 1})
	defer w.Close()
	if err := w.WriteMessages(ctx, kafka.Message{Topic: kc.Topic("readings"), Key: []byte("d1"), Value: []byte("x")}); err != nil {
		t.Fatalf("writing right after EnsureTopics: %v", err)
	}
}
