package io.batchagent.inference;

/**
 * One tool call in a model's answer.
 *
 * @param id the engine's call id; tool messages (OpenAI), {@code tool_result} blocks (Anthropic) and
 *     {@code toolResult} blocks (Bedrock) answer it
 * @param name the tool's name
 * @param arguments the arguments exactly as the model produced them (normally a JSON object, not checked
 *     here); for streamed answers, every fragment concatenated in order
 */
public record RequestedToolCall(String id, String name, String arguments) {}
