package io.batchagent.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

class InflightGateTest {

    @Test
    void shouldHandFreedSlotsToHigherPriorityFirstThenInArrivalOrder() {
        InflightGate gate = new InflightGate(1);
        CompletableFuture<InflightGate.Permit> holder = gate.acquire(0);
        List<String> order = new ArrayList<>();
        CompletableFuture<InflightGate.Permit> firstNew = gate.acquire(0);
        CompletableFuture<InflightGate.Permit> secondNew = gate.acquire(0);
        CompletableFuture<InflightGate.Permit> continuing = gate.acquire(1);
        firstNew.thenAccept(p -> order.add("first new"));
        secondNew.thenAccept(p -> order.add("second new"));
        continuing.thenAccept(p -> order.add("continuing"));

        holder.join().close();
        continuing.join().close();
        firstNew.join().close();

        assertThat(order).containsExactly("continuing", "first new", "second new");
        assertThat(gate.peakInFlight()).isEqualTo(1);
        assertThat(gate.peakWaiting()).isEqualTo(3);
    }

    @Test
    void shouldGiveACancelledWaitersPlaceToTheNextAndCountAReleasedPermitOnce() {
        InflightGate gate = new InflightGate(1);
        InflightGate.Permit held = gate.acquire(0).join();
        CompletableFuture<InflightGate.Permit> gone = gate.acquire(0);
        CompletableFuture<InflightGate.Permit> next = gate.acquire(0);

        gone.cancel(false);
        held.close();
        held.close();

        assertThat(next).isCompleted();
        assertThat(gate.inFlight()).isEqualTo(1);
        assertThat(gate.waiting()).isZero();
        next.join().close();
        assertThat(gate.inFlight()).isZero();
    }
}
