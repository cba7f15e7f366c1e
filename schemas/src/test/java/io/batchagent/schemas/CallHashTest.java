package io.batchagent.schemas;

import static org.assertj.core.api.Assertions.assertThat;

import io.batchagent.events.ToolSpec;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;

class CallHashTest {

    private static final String ARGUMENTS = "{\"q\":\"kv cache\",\"n\":3}";

    private static ToolSpec lookup() {
        return ToolSpec.newBuilder()
                .setName("lookup")
                .setDescription("Looks things up.")
                .setParametersJson("{\"type\":\"object\",\"properties\":{\"q\":{\"type\":\"string\"}}}")
                .setTimeoutMs(5_000)
                .setCacheable(true)
                .setCacheTtlMs(60_000)
                .setHttpUrl("http://a.example/lookup")
                .build();
    }

    private static ToolSpec lookupWith(UnaryOperator<ToolSpec.Builder> change) {
        return change.apply(ToolSpec.newBuilder(lookup())).build();
    }

    @Test
    void shouldGiveIdenticalDeclarationsAndArgumentsTheSameHashWhateverTheirFormatting() {
        ToolSpec reformatted = lookupWith(b ->
                b.setParametersJson("{ \"properties\": { \"q\": { \"type\": \"string\" } }, \"type\": \"object\" }"));

        assertThat(CallHash.ofCall(reformatted, "{ \"n\": 3, \"q\": \"kv cache\" }"))
                .isEqualTo(CallHash.ofCall(lookup(), ARGUMENTS))
                .isEqualTo(CallHash.ofCanonicalCall(lookup(), CallHash.canonicalJson(ARGUMENTS)))
                .hasSize(64);
        assertThat(CallHash.declarationKey(reformatted))
                .isEqualTo(CallHash.declarationKey(lookup()))
                .startsWith("lookup@");
    }

    @Test
    void shouldSeparateSameNamedToolsWhoseDeclarationsRunCallsDifferently() {
        String original = CallHash.ofCall(lookup(), ARGUMENTS);

        assertThat(java.util.List.of(
                        lookupWith(b -> b.setHttpUrl("http://b.example/lookup")),
                        lookupWith(b -> b.setHttpUrl(null).setMcpServer("search")),
                        lookupWith(b -> b.setMaxOutputChars(100)),
                        lookupWith(b -> b.setParametersJson("{\"type\":\"object\",\"required\":[\"q\"]}")),
                        lookupWith(b -> b.setTimeoutMs(60_000)),
                        lookupWith(b -> b.setCacheTtlMs(1_000)),
                        lookupWith(b -> b.setCacheable(false)),
                        lookupWith(b -> b.setBatchable(true))))
                .allSatisfy(other -> {
                    assertThat(CallHash.ofCall(other, ARGUMENTS))
                            .as("%s", other)
                            .isNotEqualTo(original);
                    assertThat(CallHash.declarationKey(other))
                            .as("%s", other)
                            .isNotEqualTo(CallHash.declarationKey(lookup()));
                });
    }

    @Test
    void shouldLetDeclarationsThatDifferOnlyInDescriptionOrAdmissionShareCalls() {
        String original = CallHash.ofCall(lookup(), ARGUMENTS);

        assertThat(java.util.List.of(
                        lookupWith(b -> b.setDescription("Another text for the model.")),
                        lookupWith(b -> b.setRateLimitPerSecond(5).setMaxConcurrency(2)),
                        lookupWith(b -> b.setBatchWindowMs(500).setBatchMaxSize(10))))
                .allSatisfy(other -> assertThat(CallHash.ofCall(other, ARGUMENTS))
                        .as("%s", other)
                        .isEqualTo(original));
    }

    @Test
    void shouldCoverEveryToolSpecFieldEitherInTheDeclarationOrByNamingItAsLeftOut() {
        String declaration = CallHash.declaration(lookup());

        ToolSpec.getClassSchema()
                .getFields()
                .forEach(field -> assertThat(declaration.contains("\"" + field.name() + "\":")
                                || CallHash.NOT_DECLARATION.contains(field.name()))
                        .as("field %s", field.name())
                        .isTrue());
        assertThat(declaration).contains("\"parametersJson\":{\"properties\"").doesNotContain("Looks things up.");
    }

    @Test
    void shouldKeepTheNameOnlyHashForThingsThatAreNotToolCalls() {
        assertThat(CallHash.of("lookup", ARGUMENTS))
                .isEqualTo(CallHash.ofCanonical("lookup", CallHash.canonicalJson(ARGUMENTS)))
                .isNotEqualTo(CallHash.ofCall(lookup(), ARGUMENTS));
    }
}
