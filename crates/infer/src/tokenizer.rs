//! Text to token ids and back, with Hugging Face's `tokenizers`.
//!
//! A Hugging Face model directory brings its `tokenizer.json`. A GGUF file brings only the pieces
//! (vocabulary, merges or scores, token types, and the name of its pre-tokenizer); from those we
//! write the equivalent `tokenizer.json` and load that, so both paths run the same code.

use serde_json::{json, Value};
use tokenizers::Tokenizer;

use crate::error::{InferError, Result};
use crate::gguf::{Gguf, MetaValue};

/// llama.cpp's token types (`tokenizer.ggml.token_type`).
const TOKEN_CONTROL: u64 = 3;
const TOKEN_USER_DEFINED: u64 = 4;

/// GPT-2's split with Llama 3's changes (contractions case-insensitive, numbers in threes).
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2's: as Llama 3's, but every digit on its own.
const QWEN2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

fn tokenizer_error(e: impl std::fmt::Display) -> InferError {
    InferError::Tokenizer(e.to_string())
}

/// A model's tokenizer and the special tokens generation needs to know.
pub struct TextTokenizer {
    inner: Tokenizer,
    bos: Option<u32>,
    /// Tokens that end a generation (end of sequence, end of turn).
    stop_ids: Vec<u32>,
}

impl TextTokenizer {
    /// From a `tokenizer.json`, with the special token ids the model's configs name.
    pub fn from_json(tokenizer_json: &[u8], bos: Option<u32>, stop_ids: Vec<u32>) -> Result<Self> {
        let inner = Tokenizer::from_bytes(tokenizer_json).map_err(tokenizer_error)?;
        Ok(TextTokenizer {
            inner,
            bos,
            stop_ids,
        })
    }

    /// From the tokenizer a GGUF file describes in its metadata.
    pub fn from_gguf(gguf: &Gguf<'_>) -> Result<Self> {
        let meta = |key: &str| gguf.get(&format!("tokenizer.ggml.{key}"));
        let id = |key: &str| meta(key).and_then(MetaValue::as_u64).map(|v| v as u32);
        let strings = |key: &str| -> Result<Vec<String>> {
            meta(key)
                .and_then(MetaValue::as_array)
                .ok_or_else(|| tokenizer_error(format!("the GGUF has no tokenizer.ggml.{key}")))?
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| tokenizer_error(format!("tokenizer.ggml.{key} holds a non-string")))
        };
        let tokens = strings("tokens")?;
        let types: Vec<u64> = match meta("token_type").and_then(MetaValue::as_array) {
            Some(types) => types.iter().map(|t| t.as_u64().unwrap_or(1)).collect(),
            None => vec![1; tokens.len()],
        };
        let bos = id("bos_token_id");
        let add_bos = meta("add_bos_token").and_then(MetaValue::as_bool);
        let model = meta("model").and_then(MetaValue::as_str).unwrap_or("gpt2");
        let json = match model {
            "gpt2" => {
                let merges = strings("merges")?;
                let pre = meta("pre").and_then(MetaValue::as_str).unwrap_or("default");
                byte_level_json(&tokens, &types, &merges, pre)?
            }
            "llama" => {
                let scores: Vec<f64> = meta("scores")
                    .and_then(MetaValue::as_array)
                    .map(|s| s.iter().map(|v| v.as_f64().unwrap_or(0.0)).collect())
                    .unwrap_or_else(|| vec![0.0; tokens.len()]);
                let add_space_prefix = meta("add_space_prefix")
                    .and_then(MetaValue::as_bool)
                    .unwrap_or(true);
                sentencepiece_json(
                    &tokens,
                    &types,
                    &scores,
                    id("unknown_token_id"),
                    add_space_prefix,
                )
            }
            other => return Err(tokenizer_error(format!("GGUF tokenizer model {other:?}"))),
        };
        // llama.cpp adds BOS to sentencepiece vocabularies unless told not to, and not to others.
        let add_bos = add_bos.unwrap_or(model == "llama");
        let json = with_bos(json, add_bos.then_some(bos).flatten(), &tokens);
        let mut stop_ids: Vec<u32> = ["eos_token_id", "eot_token_id", "eom_token_id"]
            .iter()
            .filter_map(|key| id(key))
            .collect();
        stop_ids.dedup();
        let bytes = serde_json::to_vec(&json).map_err(tokenizer_error)?;
        Self::from_json(&bytes, bos, stop_ids)
    }

    /// Token ids of `text`. Special tokens written in the text (`<|im_start|>`) are recognised;
    /// `add_special` adds what the tokenizer adds around a sequence (a BOS, for some models).
    pub fn encode(&self, text: &str, add_special: bool) -> Result<Vec<u32>> {
        let encoding = self
            .inner
            .encode(text, add_special)
            .map_err(tokenizer_error)?;
        Ok(encoding.get_ids().to_vec())
    }

    /// The text of `ids`, special tokens left out.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner.decode(ids, true).map_err(tokenizer_error)
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    pub fn bos_id(&self) -> Option<u32> {
        self.bos
    }

    pub fn stop_ids(&self) -> &[u32] {
        &self.stop_ids
    }

    /// The text of one token as the vocabulary spells it (`<|im_end|>`), for chat templates.
    pub fn token_text(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }
}

/// Streams the text of a growing list of token ids: each call returns what became final since
/// the last one. A character split over several byte tokens waits until it is whole, and each
/// token is decoded next to the ones before it (sentencepiece strips a leading space otherwise).
pub struct StreamDecoder {
    ids: Vec<u32>,
    prefix_offset: usize,
    read_offset: usize,
}

impl StreamDecoder {
    pub fn new() -> Self {
        StreamDecoder {
            ids: Vec::new(),
            prefix_offset: 0,
            read_offset: 0,
        }
    }

    /// Adds a token and returns the text that it completed (often all of it, sometimes none).
    pub fn push(&mut self, tokenizer: &TextTokenizer, id: u32) -> Result<String> {
        self.ids.push(id);
        let before = tokenizer.decode(&self.ids[self.prefix_offset..self.read_offset])?;
        let now = tokenizer.decode(&self.ids[self.prefix_offset..])?;
        if now.len() > before.len()
            && !now.ends_with('\u{fffd}')
            && now.is_char_boundary(before.len())
        {
            self.prefix_offset = self.read_offset;
            self.read_offset = self.ids.len();
            Ok(now[before.len()..].to_string())
        } else {
            Ok(String::new())
        }
    }

    /// What is still held back at the end (an incomplete character, decoded as best it can be).
    pub fn finish(&mut self, tokenizer: &TextTokenizer) -> Result<String> {
        let before = tokenizer.decode(&self.ids[self.prefix_offset..self.read_offset])?;
        let now = tokenizer.decode(&self.ids[self.prefix_offset..])?;
        self.prefix_offset = self.ids.len();
        self.read_offset = self.ids.len();
        Ok(now.get(before.len()..).unwrap_or_default().to_string())
    }
}

impl Default for StreamDecoder {
    fn default() -> Self {
        Self::new()
    }
}

/// The `added_tokens` of a tokenizer.json: control tokens are special (never split, left out of
/// decoded text), user-defined ones are kept whole but decoded.
fn added_tokens(tokens: &[String], types: &[u64]) -> Vec<Value> {
    tokens
        .iter()
        .zip(types)
        .enumerate()
        .filter(|(_, (_, &ty))| ty == TOKEN_CONTROL || ty == TOKEN_USER_DEFINED)
        .map(|(id, (content, &ty))| {
            json!({"id": id, "content": content, "single_word": false, "lstrip": false,
                   "rstrip": false, "normalized": false, "special": ty == TOKEN_CONTROL})
        })
        .collect()
}

fn vocab_json(tokens: &[String]) -> serde_json::Map<String, Value> {
    // Later duplicates must not shadow the first id (some vocabularies repeat a piece).
    let mut vocab = serde_json::Map::new();
    for (id, token) in tokens.iter().enumerate() {
        vocab.entry(token.clone()).or_insert(json!(id));
    }
    vocab
}

/// A byte-level BPE (GPT-2 family) tokenizer.json; `pre` is llama.cpp's name for how text is
/// split before BPE.
fn byte_level_json(
    tokens: &[String],
    types: &[u64],
    merges: &[String],
    pre: &str,
) -> Result<Value> {
    let byte_level = |use_regex: bool| json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": use_regex});
    let split = |pattern: &str| {
        json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": false},
            byte_level(false),
        ]})
    };
    let pre_tokenizer = match pre {
        "gpt2" | "default" => byte_level(true),
        // Every digit on its own, then GPT-2's split (llama.cpp's SMOLLM and its kin).
        "smollm" | "starcoder" | "refact" | "codeshell" => {
            json!({"type": "Sequence", "pretokenizers": [
                {"type": "Digits", "individual_digits": true},
                byte_level(true),
            ]})
        }
        "llama3" | "llama-v3" | "llama-bpe" | "smaug-bpe" | "dbrx" | "falcon3" => {
            split(LLAMA3_SPLIT)
        }
        "qwen2" | "deepseek-r1-qwen" => split(QWEN2_SPLIT),
        other => {
            tracing::warn!(
                pre = other,
                "unknown GGUF pre-tokenizer, splitting text as GPT-2 does"
            );
            byte_level(true)
        }
    };
    let merges: Vec<Value> = merges
        .iter()
        .map(|m| {
            m.split_once(' ')
                .map(|(a, b)| json!([a, b]))
                .ok_or_else(|| tokenizer_error(format!("merge {m:?} is not two pieces")))
        })
        .collect::<Result<_>>()?;
    Ok(json!({
        "version": "1.0",
        "added_tokens": added_tokens(tokens, types),
        "normalizer": null,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": null,
        "decoder": byte_level(true),
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
                  "ignore_merges": false, "vocab": vocab_json(tokens), "merges": merges},
    }))
}

/// A sentencepiece BPE (Llama 2 family) tokenizer.json. GGUF keeps the pieces' scores, not their
/// merges; as in transformers' converter, every split of a piece into two pieces of the
/// vocabulary is a merge, ranked by the score of the piece it makes.
fn sentencepiece_json(
    tokens: &[String],
    types: &[u64],
    scores: &[f64],
    unk: Option<u32>,
    add_space_prefix: bool,
) -> Value {
    let ids: std::collections::HashMap<&str, usize> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.as_str(), i))
        .collect();
    let mut merges: Vec<(f64, usize, usize, &str, &str)> = Vec::new();
    for (piece, &score) in tokens.iter().zip(scores) {
        let mut local = Vec::new();
        for (split, _) in piece.char_indices().skip(1) {
            let (left, right) = piece.split_at(split);
            if let (Some(&l), Some(&r)) = (ids.get(left), ids.get(right)) {
                local.push((score, l, r, left, right));
            }
        }
        merges.extend(local);
    }
    // Best score first; among equal scores, the pair of more frequent (lower id) pieces.
    merges.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let merges: Vec<Value> = merges.iter().map(|m| json!([m.3, m.4])).collect();
    let mut normalizers = Vec::new();
    if add_space_prefix {
        normalizers.push(json!({"type": "Prepend", "prepend": "\u{2581}"}));
    }
    normalizers.push(json!({"type": "Replace", "pattern": {"String": " "}, "content": "\u{2581}"}));
    let unk_token = unk.and_then(|id| tokens.get(id as usize));
    let mut decoders = vec![
        json!({"type": "Replace", "pattern": {"String": "\u{2581}"}, "content": " "}),
        json!({"type": "ByteFallback"}),
        json!({"type": "Fuse"}),
    ];
    if add_space_prefix {
        decoders.push(json!({"type": "Strip", "content": " ", "start": 1, "stop": 0}));
    }
    json!({
        "version": "1.0",
        "added_tokens": added_tokens(tokens, types),
        "normalizer": {"type": "Sequence", "normalizers": normalizers},
        "pre_tokenizer": null,
        "post_processor": null,
        "decoder": {"type": "Sequence", "decoders": decoders},
        "model": {"type": "BPE", "dropout": null, "unk_token": unk_token, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": true, "byte_fallback": true,
                  "ignore_merges": false, "vocab": vocab_json(tokens), "merges": merges},
    })
}

/// Adds a post-processor that puts `bos` in front of every encoded sequence.
fn with_bos(mut json: Value, bos: Option<u32>, tokens: &[String]) -> Value {
    if let Some(token) = bos.and_then(|id| tokens.get(id as usize).map(|t| (id, t))) {
        let (id, text) = token;
        json["post_processor"] = json!({
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": text, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": text, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {text.as_str(): {"id": text, "ids": [id], "tokens": [text]}},
        });
    }
    json
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sentencepiece-style vocabulary: <unk>, <s>, </s>, byte pieces, then pieces by score.
    fn spm() -> TextTokenizer {
        let mut tokens: Vec<String> = ["<unk>", "<s>", "</s>"].map(String::from).to_vec();
        let mut types = vec![2, TOKEN_CONTROL, TOKEN_CONTROL];
        let mut scores = vec![0.0, 0.0, 0.0];
        for b in 0..=255u8 {
            tokens.push(format!("<0x{b:02X}>"));
            types.push(6);
            scores.push(0.0);
        }
        for (i, piece) in [
            "▁", "h", "e", "l", "o", "he", "ll", "hell", "▁hell", "▁hello", "lo",
        ]
        .iter()
        .enumerate()
        {
            tokens.push(piece.to_string());
            types.push(1);
            scores.push(-(i as f64));
        }
        let json = sentencepiece_json(&tokens, &types, &scores, Some(0), true);
        let json = with_bos(json, Some(1), &tokens);
        TextTokenizer::from_json(&serde_json::to_vec(&json).unwrap(), Some(1), vec![2]).unwrap()
    }

    #[test]
    fn sentencepiece_vocabularies_merge_by_score_and_fall_back_to_bytes() {
        let tok = spm();
        let hello = tok.token_text(259 + 9).unwrap();
        assert_eq!(hello, "▁hello");
        let ids = tok.encode("hello!", true).unwrap();
        // BOS, "▁hello", then "!" as its byte piece <0x21>.
        assert_eq!(ids, vec![1, 259 + 9, 3 + 0x21]);
        assert_eq!(tok.decode(&ids).unwrap(), "hello!");
    }

    #[test]
    fn the_stream_decoder_holds_back_incomplete_characters() {
        let tok = spm();
        // "é" is two bytes, so two byte pieces.
        let ids = tok.encode("hello é", false).unwrap();
        let mut stream = StreamDecoder::new();
        let mut pieces = Vec::new();
        for &id in &ids {
            pieces.push(stream.push(&tok, id).unwrap());
        }
        pieces.push(stream.finish(&tok).unwrap());
        assert_eq!(pieces.concat(), "hello é");
        assert!(pieces.iter().all(|p| !p.contains('\u{fffd}')), "{pieces:?}");
        assert_eq!(
            pieces[ids.len() - 2],
            "",
            "the first byte of é alone must wait"
        );
    }
}
