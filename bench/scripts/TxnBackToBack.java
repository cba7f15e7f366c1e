import java.util.*;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.serialization.*;

/**
 * How long a transaction's first write waits for its acknowledgement when it follows the previous commit after
 * GAP ms: ROUNDS transactions of one record each (the first 10 not counted), as an exactly-once stage writes
 * right after its commit. Usage (a broker from `batchagent broker --port 19556 [--broker-property
 * add.partitions.to.txn.retry.backoff.ms=5]`):
 * java -cp "cli/target/batchagent/lib/*" bench/scripts/TxnBackToBack.java 127.0.0.1:19556 0 400
 */
public class TxnBackToBack {
  public static void main(String[] a) throws Exception {
    String bs = a[0]; int gap = Integer.parseInt(a[1]); int rounds = Integer.parseInt(a[2]); String topic = "b2b-" + System.nanoTime();
    try (Admin admin = Admin.create(Map.of("bootstrap.servers", bs))) {
      admin.createTopics(List.of(new NewTopic(topic, 2, (short) 1))).all().get();
    }
    Map<String,Object> pc = new HashMap<>(Map.of("bootstrap.servers", bs, "transactional.id", "b2b-" + topic,
        "key.serializer", StringSerializer.class.getName(), "value.serializer", StringSerializer.class.getName(), "linger.ms", 1,
        "max.in.flight.requests.per.connection", 1));
    try (KafkaProducer<String,String> p = new KafkaProducer<>(pc)) {
      p.initTransactions();
      List<Double> send = new ArrayList<>(), commit = new ArrayList<>();
      for (int i = 0; i < rounds; i++) {
        p.beginTransaction();
        long t0 = System.nanoTime();
        p.send(new ProducerRecord<>(topic, i % 2, "k", "v" + i)).get();
        long t1 = System.nanoTime();
        p.commitTransaction();
        long t2 = System.nanoTime();
        if (i >= 10) { send.add((t1 - t0) / 1e6); commit.add((t2 - t1) / 1e6); }
        if (gap > 0) Thread.sleep(gap);
      }
      Collections.sort(send); Collections.sort(commit);
      int n = send.size();
      double retries = p.metrics().entrySet().stream().filter(e -> e.getKey().name().equals("record-retry-total") && e.getKey().group().equals("producer-metrics")).mapToDouble(e -> ((Number) e.getValue().metricValue()).doubleValue()).sum();
      System.out.printf("gap=%dms send->ack p50 %.1f p90 %.1f max %.1f | commit p50 %.1f p90 %.1f | record retries %.0f of %d%n",
          gap, send.get(n/2), send.get(n*9/10), send.get(n-1), commit.get(n/2), commit.get(n*9/10), retries, rounds);
    }
  }
}
