package mqttconn

import (
	"strings"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// SubscriberStore is paho's memory store for a client that subscribes at
// QoS 1 with a persistent session (ingest): it does not keep the inbound
// QoS 1 PUBLISHes. paho puts every one of them in its store (under
// "i.<id>", payload and all) until its PUBACK is written, but never reads
// them back: on a reconnect it only resumes inbound PUBRELs (QoS 2) and
// discards stored inbound PUBLISHes (client.resume). The broker, not this
// store, redelivers what was not acknowledged. Keeping them cost a map
// insert under a lock per message and kept every payload reachable (GC
// work) until Kafka acknowledged it; with this store the PUBACK's delete
// finds nothing (paho's WARN logger notes that, a no-op unless a program
// sets mqtt.WARN). Everything else (outbound packets, QoS 2) is kept as by
// paho's MemoryStore.
func SubscriberStore() mqtt.Store { return &subscriberStore{mqtt.NewMemoryStore()} }

type subscriberStore struct{ *mqtt.MemoryStore }

func (s *subscriberStore) Put(key string, m packets.ControlPacket) {
	if p, ok := m.(*packets.PublishPacket); ok && p.Qos == 1 && strings.HasPrefix(key, "i.") {
		return
	}
	s.MemoryStore.Put(key, m)
}
