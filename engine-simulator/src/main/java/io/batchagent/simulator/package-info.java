/**
 * A SIMULATED OpenAI-compatible inference engine for tests, demos and benchmarks without a GPU.
 * Entry point: {@link io.batchagent.simulator.EngineSimulator#start}. Every timing, token count and
 * cache figure it reports comes from a cost model ({@link io.batchagent.simulator.EngineProfile}),
 * not from real hardware.
 */
package io.batchagent.simulator;
