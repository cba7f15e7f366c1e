package io.batchagent.connectors;

import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.S3Object;

/**
 * s3proxy in a process of its own, from {@code connectors/target/s3proxy}: an S3 API over a folder, with one
 * bucket, {@value #BUCKET}, and AWS signatures checked against {@link #ACCESS_KEY}/{@link #SECRET_KEY}.
 */
final class S3Proxy implements AutoCloseable {

    static final String BUCKET = "batchagent";
    static final String ACCESS_KEY = "local";
    static final String SECRET_KEY = "local-secret";
    static final String REGION = "us-east-1";

    private final JavaProcess process;
    private final String endpoint;

    private S3Proxy(JavaProcess process, String endpoint) {
        this.process = process;
        this.endpoint = endpoint;
    }

    static S3Proxy start(Path workDir) throws IOException {
        int port = ConnectWorker.freePort();
        Path data =
                Files.createDirectories(workDir.resolve("s3").resolve(BUCKET)).getParent();
        Path conf = workDir.resolve("s3proxy.conf");
        Files.writeString(
                conf,
                String.join(
                        "\n",
                        "s3proxy.endpoint=http://127.0.0.1:" + port,
                        "s3proxy.authorization=aws-v2-or-v4",
                        "s3proxy.identity=" + ACCESS_KEY,
                        "s3proxy.credential=" + SECRET_KEY,
                        "jclouds.provider=filesystem",
                        "jclouds.filesystem.basedir=" + data,
                        ""));
        JavaProcess process = JavaProcess.start(
                List.of("-Xmx256m"),
                ConnectWorker.CONNECTORS.resolve("target/s3proxy") + "/*",
                "org.gaul.s3proxy.Main",
                List.of("--properties", conf.toString()),
                Map.of(),
                Path.of("target", "s3proxy.log"));
        await("s3proxy")
                .atMost(Duration.ofMinutes(1))
                .pollInterval(Duration.ofMillis(200))
                .until(() -> {
                    if (!process.isAlive()) {
                        throw new IllegalStateException("s3proxy exited:\n" + process.logTail());
                    }
                    try (Socket socket = new Socket()) {
                        socket.connect(new InetSocketAddress("127.0.0.1", port), 500);
                        return true;
                    } catch (IOException e) {
                        return false;
                    }
                });
        return new S3Proxy(process, "http://127.0.0.1:" + port);
    }

    String endpoint() {
        return endpoint;
    }

    /** The keys under {@code prefix} in the bucket, through the S3 API. */
    List<String> keys(String prefix) {
        try (S3Client s3 = S3Client.builder()
                .endpointOverride(URI.create(endpoint))
                .forcePathStyle(true)
                .region(Region.of(REGION))
                .credentialsProvider(
                        StaticCredentialsProvider.create(AwsBasicCredentials.create(ACCESS_KEY, SECRET_KEY)))
                .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
                .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED)
                .build()) {
            return s3.listObjectsV2Paginator(request -> request.bucket(BUCKET).prefix(prefix)).contents().stream()
                    .map(S3Object::key)
                    .toList();
        }
    }

    @Override
    public void close() {
        process.close();
    }
}
