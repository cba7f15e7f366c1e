package io.batchagent.schemas;

/**
 * Job ids that a stage and a client both derive, so that neither has to ask the other: the jobs a
 * workflow's coordinator creates from events, which the client that submitted the workflow then
 * awaits by id.
 */
public final class JobIds {

    private JobIds() {}

    /** Job {@code index} of a batch whose jobs come from events, not from a list of inputs. */
    public static String sequential(String batchId, long index) {
        return String.format("%s-%06d", batchId, index);
    }

    /** The one job of a workflow's reduce batch. */
    public static String reduceJob(String reduceBatchId) {
        return sequential(reduceBatchId, 0);
    }
}
