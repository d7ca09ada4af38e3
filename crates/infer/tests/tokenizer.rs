//! Tokenizers and chat templates against their references: a tokenizer.json and the same
//! tokenizer rebuilt from GGUF metadata give transformers' ids; a sentencepiece vocabulary in a
//! GGUF gives sentencepiece's own ids; chat templates render as transformers renders them.

mod common;

use common::{fixtures, ids, load, reference};
use infer::{ChatMessage, Gguf, TextTokenizer};

fn gguf_tokenizer(file: &str) -> TextTokenizer {
    let bytes = std::fs::read(fixtures().join(file)).unwrap();
    TextTokenizer::from_gguf(&Gguf::parse(&bytes).unwrap()).unwrap()
}

#[test]
fn byte_level_bpe_from_tokenizer_json_and_from_gguf_agree_with_transformers() {
    let json = std::fs::read(fixtures().join("tokenizer.json")).unwrap();
    let from_json = TextTokenizer::from_json(&json, Some(0), vec![2]).unwrap();
    let from_gguf = gguf_tokenizer("tiny-llama.q8_0.gguf");
    for case in reference()["tokenizer_cases"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        let want = ids(&case["ids"]);
        for (how, tokenizer) in [("tokenizer.json", &from_json), ("GGUF", &from_gguf)] {
            let got = tokenizer.encode(text, true).unwrap();
            assert_eq!(got, want, "{how}: {text:?}");
            // Special tokens are left out of decoded text.
            let decoded = tokenizer.decode(&got).unwrap();
            let plain = text.replace("<|im_start|>", "").replace("<|im_end|>", "");
            assert_eq!(decoded, plain, "{how}: {text:?}");
        }
    }
    assert_eq!(from_gguf.stop_ids(), &[2]);
    assert_eq!(from_gguf.bos_id(), Some(0));
}

#[test]
fn sentencepiece_vocabularies_in_gguf_encode_as_sentencepiece_does() {
    let tokenizer = gguf_tokenizer("tokenizer-spm.gguf");
    for case in reference()["spm_tokenizer_cases"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        let got = tokenizer.encode(text, true).unwrap();
        assert_eq!(got, ids(&case["ids"]), "{text:?}");
        assert_eq!(
            tokenizer.decode(&got).unwrap(),
            case["decoded"].as_str().unwrap(),
            "{text:?}"
        );
    }
}

#[test]
fn chat_templates_render_as_transformers_renders_them() {
    let reference = reference();
    // The template comes from tokenizer_config.json/chat_template.jinja in one, GGUF metadata in
    // the other.
    for model in ["tiny-llama", "tiny-llama.q4_0.gguf"] {
        let model = load(fixtures().join(model));
        for case in reference["chat"].as_array().unwrap() {
            let messages: Vec<ChatMessage> =
                serde_json::from_value(case["messages"].clone()).unwrap();
            assert_eq!(
                model.chat_prompt(&messages).unwrap(),
                case["rendered"].as_str().unwrap()
            );
        }
    }
}
