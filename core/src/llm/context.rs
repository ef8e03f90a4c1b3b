//! How long a conversation a model takes: what the server reports, or what is known of
//! the model.

/// Context windows of well-known models, by id prefix (lowercase), longest prefix first
/// where they overlap. For a budget only: a wrong guess shortens a conversation early or
/// leaves a server to refuse it.
const KNOWN: &[(&str, u64)] = &[
    ("gpt-4o", 128_000),
    ("gpt-4.1", 1_047_576),
    ("gpt-4-turbo", 128_000),
    ("gpt-5", 400_000),
    ("o1", 200_000),
    ("o3", 200_000),
    ("o4-mini", 200_000),
    ("claude-", 200_000),
    ("gemini-1.5", 1_048_576),
    ("gemini-2", 1_048_576),
    ("qwen/qwen2.5-vl", 32_768),
    ("qwen2.5-vl", 32_768),
    ("qwen/qwen2-vl", 32_768),
    ("llava", 4_096),
    ("llama3.2-vision", 131_072),
    ("meta-llama/llama-3.2", 131_072),
];

/// The known context window of `model`, if it is one of [`KNOWN`].
pub fn known_context(model: &str) -> Option<u64> {
    let model = model.to_ascii_lowercase();
    KNOWN
        .iter()
        .filter(|(prefix, _)| model.starts_with(prefix))
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|&(_, tokens)| tokens)
}

/// The context window a `GET {base}/models` reply reports for `model`: llama.cpp's
/// `meta.n_ctx` (per slot), vLLM's `max_model_len`. The entry whose id is `model`, else the
/// only entry (llama.cpp serves one model under its own alias).
pub fn reported_context(models: &serde_json::Value, model: &str) -> Option<u64> {
    let entries = models.get("data")?.as_array()?;
    let entry = entries
        .iter()
        .find(|e| e.get("id").and_then(|i| i.as_str()) == Some(model))
        .or_else(|| (entries.len() == 1).then(|| &entries[0]))?;
    entry
        .pointer("/meta/n_ctx")
        .or_else(|| entry.get("max_model_len"))
        .and_then(serde_json::Value::as_u64)
        .filter(|&n| n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn known_models_match_by_prefix() {
        assert_eq!(known_context("gpt-4o-2024-08-06"), Some(128_000));
        assert_eq!(known_context("claude-sonnet-4-5"), Some(200_000));
        assert_eq!(known_context("Qwen/Qwen2.5-VL-7B-Instruct"), Some(32_768));
        assert_eq!(known_context("tiny-vlm"), None);
    }

    #[test]
    fn servers_report_their_context() {
        // llama.cpp (recorded): one model under its alias, n_ctx per slot.
        let llama = json!({"object":"list","data":[{"id":"tiny-vlm","aliases":["tiny-vlm"],"tags":[],"object":"model","architecture":{"input_modalities":["text","image","video"],"output_modalities":["text"]},"created":1796451890,"owned_by":"llamacpp","meta":{"vocab_type":2,"n_vocab":590,"n_ctx":4096,"n_ctx_train":8192,"n_embd":64,"n_params":157760,"size":631040,"ftype":"all F32"}}]});
        assert_eq!(reported_context(&llama, "anything"), Some(4096));
        // vLLM: max_model_len on the entry whose id is the model.
        let vllm =
            json!({"data":[{"id":"a","max_model_len":8192},{"id":"b","max_model_len":32768}]});
        assert_eq!(reported_context(&vllm, "b"), Some(32768));
        assert_eq!(reported_context(&vllm, "c"), None);
        // Ollama and OpenAI report none.
        assert_eq!(
            reported_context(
                &json!({"data":[{"id":"gpt-4o","object":"model"}]}),
                "gpt-4o"
            ),
            None
        );
    }
}
