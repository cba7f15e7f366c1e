package io.batchagent.schemas;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class TaskTemplateTest {

    @Test
    void shouldFillStringsAsTheyAreAndOtherValuesAsJson() throws Exception {
        TaskTemplate template = TaskTemplate.parse("Review {file} ({lines} lines, tags {tags}) {{literal}}");

        String rendered = template.render("{\"file\":\"a.py\",\"lines\":12,\"tags\":[\"x\",\"y\"]}");

        assertThat(rendered).isEqualTo("Review a.py (12 lines, tags [\"x\",\"y\"]) {literal}");
        assertThat(template.variables()).containsExactlyInAnyOrder("file", "lines", "tags");
    }

    @Test
    void shouldNameEveryMissingVariableAndWhatTheInputHas() {
        TaskTemplate template = TaskTemplate.parse("{paper} {topic} {title}");

        assertThatThrownBy(() -> template.render("{\"title\":\"t\"}"))
                .isInstanceOf(TaskTemplate.RenderException.class)
                .hasMessage("template variables [paper, topic] are missing from the job input (it has: title)")
                .satisfies(e -> assertThat(((TaskTemplate.RenderException) e).missingVariable())
                        .isTrue());
    }

    @Test
    void shouldRejectInputThatIsNotAnObject() {
        TaskTemplate template = TaskTemplate.parse("{x}");

        assertThatThrownBy(() -> template.render("[1,2]"))
                .hasMessageContaining("must be a JSON object, got array")
                .satisfies(e -> assertThat(((TaskTemplate.RenderException) e).missingVariable())
                        .isFalse());
        assertThatThrownBy(() -> template.render("{nope")).hasMessageContaining("not valid JSON");
    }

    @Test
    void shouldRejectMalformedTemplates() {
        assertThatThrownBy(() -> TaskTemplate.parse("open {brace")).hasMessageContaining("unclosed '{'");
        assertThatThrownBy(() -> TaskTemplate.parse("empty {}")).hasMessageContaining("empty placeholder");
        assertThatThrownBy(() -> TaskTemplate.parse("stray } brace")).hasMessageContaining("single '}'");
    }
}
