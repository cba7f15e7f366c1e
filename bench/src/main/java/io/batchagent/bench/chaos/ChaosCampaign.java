package io.batchagent.bench.chaos;

import io.batchagent.bench.tools.ChaosLedger;
import io.batchagent.client.BatchClient;
import io.batchagent.client.BatchDefinition;
import io.batchagent.schemas.Topics;
import io.batchagent.simulator.EngineFaults;
import io.batchagent.simulator.EngineSimulator;
import io.batchagent.simulator.SimulatorDialect;
import io.batchagent.simulator.SimulatorOptions;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * The fault campaign: a batch runs on a broker in its own process, every stage a {@code batchagent
 * worker --role} process of its own and the submitting client too, while roles are SIGKILLed and
 * restarted, the broker is restarted once, and the (SIMULATED) engine answers with 5xx, 429 +
 * Retry-After, malformed streams and hangs, and varies its answers per call so that a turn run twice
 * shows. Then bad records are written to every topic a stage reads. What it checks, from what the
 * system recorded (results and dead-letter topics, the tools' execution ledger, the simulator's
 * counters, the processes):
 * <ul>
 *   <li>every job ends with a final result, and no job has final records that disagree;</li>
 *   <li>no completed execution of the cacheable tool is repeated;</li>
 *   <li>every bad record gets a dead letter or a FAILED result, and no stage process dies or
 *       replaces a thread because of one;</li>
 *   <li>repeated model calls, per kill.</li>
 * </ul>
 */
public final class ChaosCampaign {

    /**
     * @param jobs agents in the batch
     * @param kills SIGKILLs, spread over every role (the client included) in turn, at evenly spaced
     *     points of the batch's progress
     * @param brokerRestart restart the broker once, halfway
     * @param fuzz bad records written after the batch
     * @param seed seeds the kill order, the engine's faults and answers, and the fuzzer
     * @param faults the engine's faults during the batch
     * @param timeout how long the batch (and, separately, the fuzz phase) may take
     */
    public record Settings(
            int jobs, int kills, boolean brokerRestart, int fuzz, long seed, EngineFaults faults, Duration timeout) {

        /** The campaign of the reliability issue: 1,000 agents, 10 kills, a broker restart, 1,000 bad records. */
        public static Settings full(long seed) {
            return new Settings(1_000, 10, true, 1_000, seed, defaultFaults(seed), Duration.ofMinutes(20));
        }

        /** A smaller campaign for CI. */
        public static Settings small(long seed) {
            return new Settings(80, 4, true, 120, seed, defaultFaults(seed), Duration.ofMinutes(8));
        }

        static EngineFaults defaultFaults(long seed) {
            return EngineFaults.parse(
                    "error=0.2,throttle=0.03,retry-after=1,malformed=0.02,hang=0.05,hang-ms=3000,seed=" + seed,
                    EngineFaults.NONE);
        }
    }

    /** One kill: which role, at what progress, and the repeated model calls until the next kill. */
    public record Kill(String role, int resultsAtKill, long repeatedCallsAfter) {}

    /** What a campaign found. */
    public record Outcome(
            Settings settings,
            int jobsWithFinalResult,
            Map<String, Long> finalStatuses,
            List<String> disagreeingJobs,
            List<String> jobsWithoutFinalResult,
            Map<String, Long> cacheableExecutionsRepeated,
            long cacheableExecutions,
            long coalescibleExecutions,
            List<Kill> kills,
            long repeatedModelCalls,
            int fuzzed,
            int fuzzHandled,
            Map<String, Long> fuzzUnhandledByKind,
            List<String> deadRoles,
            List<String> crashLines,
            double batchSeconds,
            Map<String, Long> faultsInjected) {

        /** Whether every check of the campaign holds. */
        public boolean passed() {
            return jobsWithoutFinalResult.isEmpty()
                    && disagreeingJobs.isEmpty()
                    && cacheableExecutionsRepeated.isEmpty()
                    && fuzzHandled == fuzzed
                    && deadRoles.isEmpty()
                    && crashLines.isEmpty();
        }
    }

    private static final List<String> CRASH_NEEDLES = List.of(
            "stopped on an unexpected error",
            "REPLACE_THREAD",
            "Replacing thread",
            "Encountered the following exception during processing",
            "OutOfMemoryError",
            "uncaught exception",
            "Uncaught exception");

    private ChaosCampaign() {}

    /**
     * Runs a campaign in {@code workDir} (emptied first).
     *
     * @param log progress lines
     */
    public static Outcome execute(Path workDir, Settings settings, Consumer<String> log) throws Exception {
        io.batchagent.bench.harness.KafkaHarness.deleteRecursively(workDir);
        Files.createDirectories(workDir);
        String prefix = "chaos" + settings.seed() + "-";
        String batchId = "chaos-" + settings.seed();
        int brokerPort = freePort();
        int controllerPort = freePort();
        String bootstrap = "127.0.0.1:" + brokerPort;
        Map<String, Object> kafka = Map.of("bootstrap.servers", bootstrap);
        Topics topics = Topics.create(prefix, Map.of());
        BatchDefinition definition = ChaosBatch.definition(settings.jobs());
        Set<String> jobIds = new HashSet<>();
        for (int i = 0; i < definition.inputs().size(); i++) {
            jobIds.add(BatchClient.jobId(batchId, i, definition.inputs().get(i)));
        }

        try (EngineSimulator engine = EngineSimulator.start(SimulatorOptions.builder()
                        .profile("instant")
                        .dialect(SimulatorDialect.SGLANG)
                        .priorityScheduling(true)
                        .varyAnswersSeed(settings.seed())
                        .build());
                ChaosProcesses processes = new ChaosProcesses(workDir)) {
            define(processes, workDir, settings, prefix, batchId, bootstrap, brokerPort, controllerPort, engine.port());
            processes.start("broker", 120);
            List<String> workers = processes.roleNames().stream()
                    .filter(r -> !r.equals("broker") && !r.equals("client"))
                    .toList();
            for (String role : workers) {
                processes.start(role, 180);
                log.accept("started " + role);
            }
            try (TopicFollower follower = new TopicFollower(kafka, topics)) {
                engine.setFaults(settings.faults());
                long started = System.nanoTime();
                processes.start("client", 180);
                log.accept("client submitted " + settings.jobs() + " jobs; faults "
                        + settings.faults().spec());

                List<Kill> kills = runKills(processes, follower, engine, settings, jobIds, log);
                long deadline = System.nanoTime() + settings.timeout().toNanos();
                while (follower.jobsWithResult(jobIds) < jobIds.size() && System.nanoTime() < deadline) {
                    TimeUnit.MILLISECONDS.sleep(200);
                }
                double batchSeconds = (System.nanoTime() - started) / 1e9;
                awaitClient(processes, deadline);
                log.accept("batch done in " + Math.round(batchSeconds) + " s: " + follower.jobsWithResult(jobIds) + "/"
                        + jobIds.size() + " jobs with a final result");
                engine.setFaults(EngineFaults.NONE);
                Map<String, Long> faults = faultsInjected(engine);

                List<Fuzzer.Fuzzed> fuzzed = Fuzzer.write(kafka, topics, settings.fuzz(), settings.seed());
                log.accept("wrote " + fuzzed.size() + " bad records");
                long fuzzDeadline = System.nanoTime() + settings.timeout().toNanos();
                while (unhandled(fuzzed, follower).size() > 0
                        && System.nanoTime() < fuzzDeadline
                        && processes.deadRoles().isEmpty()) {
                    TimeUnit.MILLISECONDS.sleep(500);
                }
                return outcome(
                        settings, jobIds, follower, workDir, kills, engine, fuzzed, processes, batchSeconds, faults);
            }
        }
    }

    private static void define(
            ChaosProcesses processes,
            Path dir,
            Settings settings,
            String prefix,
            String batchId,
            String bootstrap,
            int brokerPort,
            int controllerPort,
            int enginePort) {
        List<String> small = List.of("-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1");
        processes.define(new ChaosProcesses.Role(
                "broker",
                List.of("-Xmx768m"),
                List.of(
                        BrokerMain.class.getName(),
                        dir.resolve("kafka").toString(),
                        Integer.toString(brokerPort),
                        Integer.toString(controllerPort)),
                "chaos broker running",
                true));
        String redisPrefix = "batchagent-chaos-" + settings.seed() + "-" + System.currentTimeMillis() + ":";
        for (String role : List.of(
                "job-compiler",
                "coalescer",
                "assembler",
                "workflow",
                "inference-1",
                "inference-2",
                "tools-1",
                "tools-2")) {
            String stage = role.replaceAll("-\\d$", "");
            List<String> jvm = new ArrayList<>(small);
            jvm.add("-D" + ChaosLedger.PROPERTY + "=" + dir.resolve("ledger-" + role + ".tsv"));
            processes.define(new ChaosProcesses.Role(
                    role,
                    jvm,
                    List.of(
                            "io.batchagent.cli.BatchAgentCommand",
                            "worker",
                            "--role",
                            stage,
                            "--bootstrap-servers",
                            bootstrap,
                            "--backend",
                            "sglang://127.0.0.1:" + enginePort,
                            "--max-inflight",
                            "16",
                            "--partitions",
                            "4",
                            "--topic-prefix",
                            prefix,
                            "--state-dir",
                            dir.resolve("state-" + role).toString(),
                            "--redis-url",
                            "redis://127.0.0.1:6379",
                            "--redis-key-prefix",
                            redisPrefix,
                            "--kafka",
                            "session.timeout.ms=10000",
                            "--kafka",
                            "heartbeat.interval.ms=1000"),
                    "batchagent worker running",
                    true));
        }
        processes.define(new ChaosProcesses.Role(
                "client",
                small,
                List.of(ClientMain.class.getName(), bootstrap, prefix, batchId, Integer.toString(settings.jobs())),
                "chaos client submitted",
                false));
    }

    /**
     * Kills roles in a seeded order that visits each before any repeats, at evenly spaced points of
     * the batch's progress, restarting each at once; restarts the broker once halfway.
     */
    private static List<Kill> runKills(
            ChaosProcesses processes,
            TopicFollower follower,
            EngineSimulator engine,
            Settings settings,
            Set<String> jobIds,
            Consumer<String> log)
            throws InterruptedException {
        List<String> victims = new ArrayList<>(
                processes.roleNames().stream().filter(r -> !r.equals("broker")).toList());
        Collections.shuffle(victims, new Random(settings.seed()));
        List<Kill> kills = new ArrayList<>();
        int events = settings.kills() + (settings.brokerRestart() ? 1 : 0);
        int brokerAt = settings.brokerRestart() ? events / 2 : -1;
        long deadline = System.nanoTime() + settings.timeout().toNanos();
        long repeatsBefore = engine.repeatedCalls();
        String lastVictim = null;
        int lastProgress = 0;
        int killed = 0;
        Set<String> restarting = new LinkedHashSet<>();
        for (int event = 0; event < events; event++) {
            int threshold = (int) ((long) jobIds.size() * (event + 1) / (events + 2));
            while (follower.jobsWithResult(jobIds) < threshold && System.nanoTime() < deadline) {
                TimeUnit.MILLISECONDS.sleep(50);
            }
            long repeatsNow = engine.repeatedCalls();
            if (lastVictim != null) {
                kills.add(new Kill(lastVictim, lastProgress, repeatsNow - repeatsBefore));
            }
            repeatsBefore = repeatsNow;
            lastProgress = follower.jobsWithResult(jobIds);
            if (event == brokerAt) {
                log.accept("restarting the broker at " + lastProgress + " results");
                processes.stop("broker");
                // Waited for: the roles restarted after this one must find a cluster to start against.
                processes.start("broker", 300);
                lastVictim = "broker (restart)";
                continue;
            }
            String victim = victims.get(killed++ % victims.size());
            log.accept("SIGKILL " + victim + " at " + lastProgress + " results");
            processes.kill(victim);
            if (!victim.equals("client") || follower.jobsWithResult(jobIds) < jobIds.size()) {
                // Restarted at once but not waited for: the next kill comes at its point of progress.
                processes.launch(victim);
                restarting.add(victim);
            }
            lastVictim = victim;
        }
        for (String role : restarting) {
            processes.awaitReady(role, 300);
        }
        if (lastVictim != null) {
            while (follower.jobsWithResult(jobIds) < jobIds.size() && System.nanoTime() < deadline) {
                TimeUnit.MILLISECONDS.sleep(100);
            }
            kills.add(new Kill(lastVictim, lastProgress, engine.repeatedCalls() - repeatsBefore));
        }
        return kills;
    }

    private static void awaitClient(ChaosProcesses processes, long deadline) throws InterruptedException {
        Process client = processes.process("client");
        while (client != null && client.isAlive() && System.nanoTime() < deadline) {
            TimeUnit.MILLISECONDS.sleep(100);
        }
    }

    private static List<Fuzzer.Fuzzed> unhandled(List<Fuzzer.Fuzzed> fuzzed, TopicFollower follower) {
        Map<String, List<TopicFollower.Outcome>> outcomes = follower.outcomes();
        List<Fuzzer.Fuzzed> left = new ArrayList<>();
        for (Fuzzer.Fuzzed f : fuzzed) {
            boolean failed = f.keyedByJob()
                    && outcomes.getOrDefault(f.key(), List.of()).stream()
                            .anyMatch(o -> o.status().equals("FAILED"));
            if (!failed && !follower.deadLettered(f.topic(), f.partition(), f.offset())) {
                left.add(f);
            }
        }
        return left;
    }

    private static Map<String, Long> faultsInjected(EngineSimulator engine) {
        Map<String, Long> faults = new TreeMap<>();
        engine.faultsInjected().forEach((fault, n) -> faults.put(fault.name().toLowerCase(java.util.Locale.ROOT), n));
        return faults;
    }

    private static Outcome outcome(
            Settings settings,
            Set<String> jobIds,
            TopicFollower follower,
            Path dir,
            List<Kill> kills,
            EngineSimulator engine,
            List<Fuzzer.Fuzzed> fuzzed,
            ChaosProcesses processes,
            double batchSeconds,
            Map<String, Long> faults) {
        Map<String, List<TopicFollower.Outcome>> outcomes = follower.outcomes();
        Map<String, Long> statuses = new TreeMap<>();
        List<String> disagreeing = new ArrayList<>();
        List<String> missing = new ArrayList<>();
        for (String jobId : jobIds) {
            List<TopicFollower.Outcome> records = outcomes.get(jobId);
            if (records == null || records.isEmpty()) {
                missing.add(jobId);
                continue;
            }
            TopicFollower.Outcome last = records.get(records.size() - 1);
            statuses.merge(last.status() + (last.reason().isEmpty() ? "" : " " + last.reason()), 1L, Long::sum);
            Map<Integer, Set<TopicFollower.Outcome>> byAttempt = new HashMap<>();
            records.forEach(r ->
                    byAttempt.computeIfAbsent(r.attempt(), a -> new HashSet<>()).add(r));
            if (byAttempt.values().stream().anyMatch(s -> s.size() > 1)) {
                disagreeing.add(jobId + " " + records);
            }
        }
        List<ChaosLedger.Entry> ledger = ChaosLedger.read(dir);
        Map<String, Long> fetches = new TreeMap<>();
        ledger.stream().filter(e -> e.tool().equals("chaos_fetch")).forEach(e -> fetches.merge(e.key(), 1L, Long::sum));
        Map<String, Long> repeated = new LinkedHashMap<>();
        fetches.forEach((key, n) -> {
            if (n > 1) {
                repeated.put(key, n);
            }
        });
        Map<String, Long> unhandledByKind = new TreeMap<>();
        List<Fuzzer.Fuzzed> left = unhandled(fuzzed, follower);
        left.forEach(f -> unhandledByKind.merge(f.topic() + " " + f.kind(), 1L, Long::sum));
        return new Outcome(
                settings,
                jobIds.size() - missing.size(),
                statuses,
                disagreeing,
                missing,
                repeated,
                ledger.stream().filter(e -> e.tool().equals("chaos_fetch")).count(),
                ledger.stream().filter(e -> e.tool().equals("chaos_lookup")).count(),
                kills,
                engine.repeatedCalls(),
                fuzzed.size(),
                fuzzed.size() - left.size(),
                unhandledByKind,
                processes.deadRoles(),
                processes.logLines(CRASH_NEEDLES),
                batchSeconds,
                faults);
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }
}
