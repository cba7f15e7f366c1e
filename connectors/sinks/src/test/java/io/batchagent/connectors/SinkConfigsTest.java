package io.batchagent.connectors;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The shipped sink configs: the standalone and distributed forms agree, and take environment values from the environment. */
class SinkConfigsTest {

    private static final Path CONFIG = Path.of("..", "config");
    private static final Pattern VARIABLE = Pattern.compile("\\$\\{env:([A-Z0-9_]+)}");

    @ParameterizedTest
    @ValueSource(strings = {"results-jdbc", "results-iceberg"})
    void shouldShipTheSameSettingsForStandaloneAndDistributedWorkers(String connector) throws IOException {
        JsonNode json =
                new ObjectMapper().readTree(CONFIG.resolve(connector + ".json").toFile());
        Properties properties = new Properties();
        try (Reader in = Files.newBufferedReader(CONFIG.resolve(connector + ".properties"))) {
            properties.load(in);
        }

        Map<String, String> distributed = new TreeMap<>();
        json.get("config")
                .fields()
                .forEachRemaining(e -> distributed.put(e.getKey(), e.getValue().asText()));
        distributed.put("name", json.get("name").asText());
        Map<String, String> standalone = new TreeMap<>();
        properties.stringPropertyNames().forEach(key -> standalone.put(key, properties.getProperty(key)));

        assertThat(standalone).isEqualTo(distributed);
    }

    @ParameterizedTest
    @ValueSource(strings = {"results-jdbc", "results-iceberg"})
    void shouldTakeEverySettingThatDiffersPerEnvironmentFromTheEnvironment(String connector) throws IOException {
        JsonNode config = new ObjectMapper()
                .readTree(CONFIG.resolve(connector + ".json").toFile())
                .get("config");
        Map<String, String> variables = new TreeMap<>();
        config.fields().forEachRemaining(e -> {
            Matcher matcher = VARIABLE.matcher(e.getValue().asText());
            if (matcher.find()) {
                variables.put(e.getKey(), matcher.group(1));
            }
        });

        assertThat(variables)
                .containsEntry("value.converter.apicurio.registry.url", "APICURIO_REGISTRY_URL")
                .containsEntry("transforms.row.output.schema", "BATCHAGENT_OUTPUT_SCHEMA");
        if (connector.equals("results-jdbc")) {
            assertThat(variables)
                    .containsEntry("connection.url", "JDBC_URL")
                    .containsEntry("connection.password", "JDBC_PASSWORD");
        } else {
            assertThat(variables)
                    .containsEntry("iceberg.catalog.uri", "JDBC_URL")
                    .containsEntry("iceberg.catalog.jdbc.password", "JDBC_PASSWORD")
                    .containsEntry("iceberg.catalog.s3.endpoint", "S3_ENDPOINT")
                    .containsEntry("iceberg.catalog.warehouse", "S3_WAREHOUSE");
            // S3 credentials: the AWS SDK's default chain (AWS_ACCESS_KEY_ID, ...), never a connector setting.
            assertThat(config.toString()).doesNotContain("secret-access-key");
        }
    }
}
