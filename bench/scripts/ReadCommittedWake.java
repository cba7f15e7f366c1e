import java.time.Duration;
import java.util.*;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.serialization.*;

/**
 * How long a read_committed consumer waits for a committed record, at a given fetch.max.wait.ms: 40 rounds of
 * one transactional record each. Usage (a broker from `batchagent broker --port 19555`):
 * java -cp "bench/target/lib/*" bench/scripts/ReadCommittedWake.java 127.0.0.1:19555 500
 */
public class ReadCommittedWake {
  public static void main(String[] a) throws Exception {
    String bs = a[0]; int wait = Integer.parseInt(a[1]); String topic = "wake-" + System.nanoTime();
    try (Admin admin = Admin.create(Map.of("bootstrap.servers", bs))) {
      admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get();
    }
    Map<String,Object> pc = new HashMap<>(Map.of("bootstrap.servers", bs, "transactional.id", "wake-" + topic,
        "key.serializer", StringSerializer.class.getName(), "value.serializer", StringSerializer.class.getName(), "linger.ms", 0));
    Map<String,Object> cc = new HashMap<>(Map.of("bootstrap.servers", bs, "group.id", "g-" + topic, "isolation.level", "read_committed",
        "fetch.max.wait.ms", wait, "auto.offset.reset", "earliest",
        "key.deserializer", StringDeserializer.class.getName(), "value.deserializer", StringDeserializer.class.getName()));
    try (KafkaProducer<String,String> p = new KafkaProducer<>(pc); KafkaConsumer<String,String> c = new KafkaConsumer<>(cc)) {
      p.initTransactions();
      c.subscribe(List.of(topic));
      while (c.assignment().isEmpty()) c.poll(Duration.ofMillis(100));
      List<Long> lat = new ArrayList<>();
      for (int i = 0; i < 40; i++) {
        p.beginTransaction();
        p.send(new ProducerRecord<>(topic, "k", "v" + i));
        p.commitTransaction();
        long t0 = System.nanoTime();
        int got = 0;
        while (got == 0) got = c.poll(Duration.ofMillis(5)).count();
        lat.add((System.nanoTime() - t0) / 1_000_000);
        Thread.sleep(50);
      }
      Collections.sort(lat);
      System.out.println("fetch.max.wait.ms=" + wait + " commit->received ms p50 " + lat.get(20) + " p90 " + lat.get(36) + " max " + lat.get(39));
    }
  }
}
