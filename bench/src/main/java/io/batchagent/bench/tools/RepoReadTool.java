package io.batchagent.bench.tools;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;

/**
 * W3's {@code repo_read}: returns a deterministic source file of about 250 simulator tokens for a
 * path, after 0 ms by default. SIMULATED.
 */
public final class RepoReadTool extends BenchTool {

    public RepoReadTool() {
        super(Duration.ZERO);
    }

    @Override
    public String name() {
        return "repo_read";
    }

    @Override
    public String description() {
        return "Read a file of the session's repository.";
    }

    @Override
    protected String keyArgument() {
        return "path";
    }

    @Override
    protected String output(String key, JsonNode arguments) {
        return fileText(key);
    }

    /** The file's text: a pure function of the path. */
    public static String fileText(String path) {
        StringBuilder out = new StringBuilder("# ").append(path).append('\n');
        int seed = Math.floorMod(path.hashCode(), 997);
        for (int i = 0; i < 6; i++) {
            out.append("def handler_")
                    .append(seed + i)
                    .append("(request, session):\n")
                    .append("    value = session.lookup(request.key_")
                    .append(i)
                    .append(")\n")
                    .append("    return render(value, retries=")
                    .append((seed + i) % 7)
                    .append(")\n");
        }
        return out.toString();
    }
}
