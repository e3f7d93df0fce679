//! The built-in embedder: [`LocalEmbedder`] loads a BERT sentence-embedding model directory
//! (`model.safetensors`, `tokenizer.json`, `config.json`) and embeds text on the CPU the way
//! sentence-transformers does for all-MiniLM-L6-v2: wordpiece tokens with `[CLS]`/`[SEP]`,
//! truncation at 256 tokens, token types 0, mean pooling over the real (unpadded) tokens, then
//! L2 normalisation. It owns batching (sort by length, pack each batch's tokens without
//! padding) and the thread pool the forward pass runs on.

use std::fmt;
use std::fs;
use std::path::Path;
use std::time::Instant;

use candle_core::Device;
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::Embedder;
use crate::bert::{Bert, BertConfig};
use crate::error::EmbedError;
use crate::model;
use crate::stages::{self, Stage, StageTimes};

/// The arithmetic of the model's linear layers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Precision {
    /// f32 throughout (the reference; vectors match sentence-transformers to ~1e-6).
    #[default]
    F32,
    /// Linear layers in integers: weights quantized to 10 bits per output column, activations
    /// to 12 bits per token, both in i16 lanes, summed exactly in i32 (`vpmaddwd` on AVX2);
    /// attention, softmax, LayerNorm and GELU stay f32. Vectors stay within a cosine of
    /// 0.9999 of the f32 ones (measured: lowest 0.99997), so vectors of both precisions can
    /// share an index and the model id does not change. Somewhat faster on AVX2 (see the
    /// README), slow without it (a portable integer kernel).
    Int16,
}

impl Precision {
    /// The name used in configuration: `f32` or `int16`.
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Int16 => "int16",
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Precision {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "f32" => Ok(Precision::F32),
            "int16" => Ok(Precision::Int16),
            other => Err(format!("unknown precision {other:?} (expected \"f32\" or \"int16\")")),
        }
    }
}

/// How a [`LocalEmbedder`] runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalOptions {
    /// Inputs per forward pass (default 32; 0 is treated as 1). Their tokens are packed
    /// without padding, so larger batches only cost memory (about 14 KB per token).
    pub batch_size: usize,
    /// Threads for the forward pass and tokenization; 0 means one per available core.
    ///
    /// With more than one thread, every matrix product is cut into tiles and attention into
    /// (sequence, head) tasks, which the threads take as they free up.
    pub threads: usize,
    /// The arithmetic of the linear layers (default [`Precision::F32`]).
    pub precision: Precision,
}

impl Default for LocalOptions {
    fn default() -> Self {
        LocalOptions { batch_size: 32, threads: 0, precision: Precision::F32 }
    }
}

/// A BERT sentence-embedding model run locally on the CPU; by default the built-in
/// all-MiniLM-L6-v2. Cheap to share: wrap it in an `Arc` and call [`Embedder::embed`] from any
/// thread.
pub struct LocalEmbedder {
    model_id: String,
    bert: Bert,
    /// Adds `[CLS]`/`[SEP]`, truncates at `max_tokens`, never pads.
    tokenizer: Tokenizer,
    /// The same tokenizer without truncation or padding, for [`Embedder::count_tokens`].
    counter: Tokenizer,
    pool: rayon::ThreadPool,
    batch_size: usize,
    max_tokens: usize,
    precision: Precision,
}

impl fmt::Debug for LocalEmbedder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalEmbedder")
            .field("model_id", &self.model_id)
            .field("dimension", &self.bert.hidden_size())
            .field("max_input_tokens", &self.max_tokens)
            .field("batch_size", &self.batch_size)
            .field("threads", &self.pool.current_num_threads())
            .field("precision", &self.precision)
            .finish_non_exhaustive()
    }
}

impl LocalEmbedder {
    /// Loads the model in `model_dir` (which must hold `model.safetensors`, `tokenizer.json`
    /// and `config.json`), with id [`model::MODEL_ID`].
    ///
    /// Does not check the weights' checksum (that is [`model::verify`]'s job) but does check
    /// every tensor's presence and shape. Errors: [`EmbedError::ModelNotInstalled`] when the
    /// directory does not exist, [`EmbedError::ModelInvalid`] when its files are missing or
    /// unusable.
    pub fn load(model_dir: &Path, opts: &LocalOptions) -> Result<Self, EmbedError> {
        let started = Instant::now();
        if !model_dir.is_dir() {
            return Err(EmbedError::ModelNotInstalled { searched: vec![model_dir.to_path_buf()] });
        }
        let missing = model::missing_files(model_dir);
        if !missing.is_empty() {
            return Err(EmbedError::invalid(model_dir, format!("missing {}", missing.join(", "))));
        }

        let config_path = model_dir.join(model::CONFIG_FILE);
        let config_bytes =
            fs::read(&config_path).map_err(|e| EmbedError::invalid(&config_path, format!("cannot read: {e}")))?;
        let cfg: BertConfig = serde_json::from_slice(&config_bytes)
            .map_err(|e| EmbedError::invalid(&config_path, format!("not a valid BERT config.json: {e}")))?;
        cfg.validate().map_err(|reason| EmbedError::invalid(&config_path, reason))?;
        let max_tokens = model::MAX_INPUT_TOKENS.min(cfg.max_position_embeddings);

        let tokenizer_path = model_dir.join(model::TOKENIZER_FILE);
        let (tokenizer, counter) = load_tokenizers(&tokenizer_path, max_tokens)?;
        let vocab = tokenizer.get_vocab_size(true);
        if vocab > cfg.vocab_size {
            return Err(EmbedError::invalid(
                &tokenizer_path,
                format!("the tokenizer has {vocab} tokens but the model only {}", cfg.vocab_size),
            ));
        }

        let weights_path = model_dir.join(model::WEIGHTS_FILE);
        let bytes =
            fs::read(&weights_path).map_err(|e| EmbedError::invalid(&weights_path, format!("cannot read: {e}")))?;
        let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)
            .map_err(|e| EmbedError::invalid(&weights_path, format!("not a readable safetensors file: {e}")))?;
        drop(bytes);
        let bert =
            Bert::new(&cfg, tensors, opts.precision).map_err(|reason| EmbedError::invalid(&weights_path, reason))?;

        let threads = match opts.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("trove-embed-{i}"))
            .build()
            .map_err(|e| EmbedError::Embedding(format!("cannot start {threads} embedding threads: {e}")))?;

        tracing::debug!(
            dir = %model_dir.display(),
            threads,
            batch_size = opts.batch_size.max(1),
            precision = %opts.precision,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "loaded embedding model"
        );
        Ok(LocalEmbedder {
            model_id: model::MODEL_ID.to_string(),
            bert,
            tokenizer,
            counter,
            pool,
            batch_size: opts.batch_size.max(1),
            max_tokens,
            precision: opts.precision,
        })
    }

    /// Replaces the id reported by [`Embedder::model_id`]; for model directories that are not
    /// the built-in all-MiniLM-L6-v2 (vectors of different models must not share an id).
    pub fn with_model_id(mut self, id: impl Into<String>) -> Self {
        self.model_id = id.into();
        self
    }

    /// The number of threads the forward pass runs on.
    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    /// Inputs per forward pass.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// The arithmetic of the linear layers.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// As [`Embedder::embed`], adding the wall and busy time of each stage of the call to
    /// `times` (for benchmarks; [`Embedder::embed`] times nothing).
    pub fn embed_timed(&self, texts: &[&str], times: &StageTimes) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        self.pool.install(|| self.embed_in_pool(texts, Some(times)))
    }

    /// Embeds on the calling thread (which is one of the pool's).
    fn embed_in_pool(&self, texts: &[&str], times: Option<&StageTimes>) -> Result<Vec<Vec<f32>>, EmbedError> {
        let encodings =
            stages::serial(times, Stage::Tokenize, || self.tokenizer.encode_batch_fast(texts.to_vec(), true))
                .map_err(|e| EmbedError::Embedding(format!("tokenization failed: {e}")))?;
        let ids: Vec<&[u32]> = encodings.iter().map(|e| e.get_ids()).collect();
        if let Some(long) = ids.iter().find(|ids| ids.len() > self.max_tokens) {
            return Err(EmbedError::Embedding(format!(
                "the tokenizer produced {} tokens despite truncation at {}",
                long.len(),
                self.max_tokens
            )));
        }

        // Longest first, stable: batches group similar lengths (tokens are packed, not padded).
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(ids[i].len()));

        let hidden = self.bert.hidden_size();
        let threads = rayon::current_num_threads();
        let mut out = vec![Vec::new(); texts.len()];
        let mut states: Vec<f32> = Vec::new();
        let mut seqs: Vec<&[u32]> = Vec::new();
        for chunk in order.chunks(self.batch_size) {
            seqs.clear();
            seqs.extend(chunk.iter().map(|&i| ids[i]));
            self.bert.forward(&seqs, &mut states, threads, times).map_err(EmbedError::Embedding)?;
            stages::serial(times, Stage::Pooling, || {
                let mut rows = states.as_slice();
                for (&i, seq) in chunk.iter().zip(&seqs) {
                    let (mine, rest) = rows.split_at(seq.len() * hidden);
                    out[i] = mean_pool_normalized(mine, seq.len(), hidden);
                    rows = rest;
                }
            });
        }
        Ok(out)
    }
}

/// Loads `tokenizer.json` twice-configured: once for embedding (special tokens added by the
/// caller, truncation at `max_tokens`, no padding) and once for counting (no truncation, no
/// padding). The shipped file fixes both at 128, which is not what the model is used with.
fn load_tokenizers(path: &Path, max_tokens: usize) -> Result<(Tokenizer, Tokenizer), EmbedError> {
    let mut tokenizer = Tokenizer::from_file(path)
        .map_err(|e| EmbedError::invalid(path, format!("not a usable tokenizer.json: {e}")))?;
    tokenizer.with_padding(None);
    let mut counter = tokenizer.clone();
    counter.with_truncation(None).map_err(|e| EmbedError::invalid(path, format!("cannot disable truncation: {e}")))?;
    tokenizer
        .with_truncation(Some(TruncationParams {
            direction: TruncationDirection::Right,
            max_length: max_tokens,
            strategy: TruncationStrategy::LongestFirst,
            stride: 0,
        }))
        .map_err(|e| EmbedError::invalid(path, format!("cannot set truncation: {e}")))?;
    Ok((tokenizer, counter))
}

/// Mean of the first `len` rows of `rows` (row width `width`), scaled to unit L2 norm.
/// Padding rows after `len` are ignored.
fn mean_pool_normalized(rows: &[f32], len: usize, width: usize) -> Vec<f32> {
    let mut acc = vec![0f32; width];
    for row in rows.chunks_exact(width).take(len) {
        for (a, v) in acc.iter_mut().zip(row) {
            *a += v;
        }
    }
    let n = len.max(1) as f32;
    acc.iter_mut().for_each(|a| *a /= n);
    let norm = acc.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
    acc.iter_mut().for_each(|a| *a /= norm);
    acc
}

impl Embedder for LocalEmbedder {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dimension(&self) -> usize {
        self.bert.hidden_size()
    }

    fn max_input_tokens(&self) -> usize {
        self.max_tokens
    }

    fn count_tokens(&self, text: &str) -> usize {
        match self.counter.encode_fast(text, false) {
            Ok(encoding) => encoding.len(),
            Err(err) => {
                // WordPiece does not fail on text; should it ever, over-estimate rather than
                // let a chunker build passages that silently lose their tail.
                tracing::warn!(error = %err, "tokenizer failed while counting tokens");
                text.len()
            }
        }
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let started = Instant::now();
        let out = self.pool.install(|| self.embed_in_pool(texts, None))?;
        tracing::trace!(texts = texts.len(), elapsed_ms = started.elapsed().as_millis() as u64, "embedded");
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{TinyModel, cosine, max_abs_diff};

    fn load(tiny: &TinyModel, batch_size: usize) -> LocalEmbedder {
        LocalEmbedder::load(tiny.dir(), &LocalOptions { batch_size, threads: 2, ..LocalOptions::default() }).unwrap()
    }

    #[test]
    fn mean_pooling_ignores_padding_rows_and_normalises() {
        // Rows (3, 0) and (3, 8) average to (3, 4); the padding row (100, 100) must not count.
        let rows = [3.0, 0.0, 3.0, 8.0, 100.0, 100.0];
        let v = mean_pool_normalized(&rows, 2, 2);
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6, "{v:?}");
    }

    #[test]
    fn loads_and_reports_shape() {
        let tiny = TinyModel::new();
        let e = load(&tiny, 32);
        assert_eq!(e.model_id(), model::MODEL_ID);
        assert_eq!(e.dimension(), TinyModel::HIDDEN);
        assert_eq!(e.max_input_tokens(), 256);
        assert_eq!(e.threads(), 2);
        let v = e.embed(&["hello world"]).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].len(), TinyModel::HIDDEN);
        assert!(format!("{e:?}").contains("LocalEmbedder"));
        let renamed = e.with_model_id("local/tiny");
        assert_eq!(renamed.model_id(), "local/tiny");
    }

    #[test]
    fn small_position_table_lowers_max_input_tokens() {
        let tiny = TinyModel::with_max_positions(64);
        let e = load(&tiny, 8);
        assert_eq!(e.max_input_tokens(), 64);
        let long = TinyModel::words(200);
        let v = e.embed(&[&long]).unwrap();
        assert_eq!(v[0].len(), TinyModel::HIDDEN);
    }

    #[test]
    fn matches_an_independent_naive_forward_pass() {
        let tiny = TinyModel::new();
        let e = load(&tiny, 4);
        let texts = ["the quick brown fox", "hello world!", "a cat sat on the mat, the end."];
        let got = e.embed(&texts).unwrap();
        for (text, got) in texts.iter().zip(&got) {
            let ids = e.tokenizer.encode(*text, true).unwrap().get_ids().to_vec();
            let want = tiny.naive_embedding(&ids);
            let diff = max_abs_diff(got, &want);
            assert!(diff < 1e-5, "{text:?}: max diff {diff}");
        }
    }

    #[test]
    fn serial_and_parallel_paths_match_the_naive_forward_pass() {
        let tiny = TinyModel::new();
        // More rows than one block holds (so several blocks, also on one thread), and a single
        // short input for the path where each matrix product splits its columns instead.
        let texts: Vec<String> =
            [3, 40, 90, 17, 60, 1, 250, 250, 250, 250, 250].iter().map(|&n| TinyModel::words(n)).collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        for threads in [1, 2, 3] {
            let e =
                LocalEmbedder::load(tiny.dir(), &LocalOptions { batch_size: 32, threads, ..LocalOptions::default() })
                    .unwrap();
            for batch in [&refs[..], &refs[..1]] {
                for (text, got) in batch.iter().zip(e.embed(batch).unwrap()) {
                    let ids = e.tokenizer.encode(*text, true).unwrap().get_ids().to_vec();
                    let diff = max_abs_diff(&got, &tiny.naive_embedding(&ids));
                    assert!(diff < 1e-5, "{threads} threads, {} tokens: max diff {diff}", ids.len());
                }
            }
        }
    }

    #[test]
    fn int16_stays_close_to_the_naive_forward_pass_and_ignores_batch_composition() {
        let tiny = TinyModel::new();
        let texts: Vec<String> = [3, 40, 90, 17, 250].iter().map(|&n| TinyModel::words(n)).collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        for threads in [1, 2] {
            let opts = LocalOptions { batch_size: 32, threads, precision: Precision::Int16 };
            let e = LocalEmbedder::load(tiny.dir(), &opts).unwrap();
            assert_eq!(e.precision(), Precision::Int16);
            let together = e.embed(&refs).unwrap();
            for (text, got) in refs.iter().zip(&together) {
                let ids = e.tokenizer.encode(*text, true).unwrap().get_ids().to_vec();
                let want = tiny.naive_embedding(&ids);
                let cos = cosine(got, &want);
                assert!(cos > 0.999, "{threads} threads, {} tokens: cosine {cos}", ids.len());
                assert!(max_abs_diff(got, &want) > 1e-7, "int16 gave the f32 result: not quantized?");
                // Activations are quantized per token, so a text's vector does not depend on
                // what else is in the batch.
                let alone = e.embed(&[text]).unwrap().remove(0);
                assert!(max_abs_diff(got, &alone) < 1e-6, "{} tokens: batch composition mattered", ids.len());
            }
        }
    }

    #[test]
    fn timed_calls_embed_alike_and_account_for_every_stage() {
        let tiny = TinyModel::new();
        let e = load(&tiny, 32);
        let texts: Vec<String> = [3, 40, 90, 17].iter().map(|&n| TinyModel::words(n)).collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let times = StageTimes::new();
        let timed = e.embed_timed(&refs, &times).unwrap();
        for (a, b) in timed.iter().zip(e.embed(&refs).unwrap()) {
            assert!(max_abs_diff(a, &b) < 1e-6);
        }
        for (stage, t) in times.all() {
            assert!(t.wall > std::time::Duration::ZERO && t.busy > std::time::Duration::ZERO, "{stage:?}: {t:?}");
            // Two threads cannot be busy for more than twice the stage's wall time (timers
            // are read a little apart, hence the slack).
            assert!(t.busy <= t.wall * 2 + std::time::Duration::from_millis(1), "{stage:?}: {t:?}");
        }
        assert!(e.embed_timed(&[], &times).unwrap().is_empty());
    }

    #[test]
    fn precision_names_round_trip_and_unknown_ones_are_refused() {
        for p in [Precision::F32, Precision::Int16] {
            assert_eq!(p.as_str().parse::<Precision>(), Ok(p));
            assert_eq!(p.to_string(), p.as_str());
        }
        let err = "int4".parse::<Precision>().unwrap_err();
        assert!(err.contains("int4") && err.contains("f32") && err.contains("int16"), "{err}");
        assert_eq!(LocalOptions::default().precision, Precision::F32);
    }

    #[test]
    fn outputs_are_unit_length() {
        let tiny = TinyModel::new();
        let e = load(&tiny, 3);
        let texts = ["", "hello", "the quick brown fox jumps over the lazy dog", "zzz unknown"];
        for v in e.embed(&texts).unwrap() {
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-5, "norm {norm}");
            assert!(v.iter().all(|x| x.is_finite()));
        }
    }

    #[test]
    fn preserves_input_order() {
        let tiny = TinyModel::new();
        let e = load(&tiny, 2);
        // Lengths deliberately unsorted so that batching reorders them internally.
        let texts = [
            "the dog",
            "the quick brown fox jumps over the lazy dog again and again",
            "hello",
            "a red fox is walking over the blue mat",
            "world",
        ];
        let together = e.embed(&texts).unwrap();
        for (text, v) in texts.iter().zip(&together) {
            let alone = e.embed(&[text]).unwrap().remove(0);
            assert!(max_abs_diff(v, &alone) < 1e-5, "{text:?} moved");
        }
        // And different texts really give different vectors (so the check above means something).
        assert!(cosine(&together[0], &together[1]) < 0.999);
    }

    #[test]
    fn result_does_not_depend_on_batch_composition() {
        let tiny = TinyModel::new();
        let short = "the cat sat";
        let long_a = TinyModel::words(40);
        let long_b = TinyModel::words(90);
        let alone = load(&tiny, 1).embed(&[short]).unwrap().remove(0);
        for batch_size in [2, 3, 32] {
            let e = load(&tiny, batch_size);
            let batch = e.embed(&[&long_a, short, &long_b]).unwrap();
            let diff = max_abs_diff(&batch[1], &alone);
            assert!(diff < 1e-5, "batch_size {batch_size}: padded result differs by {diff}");
        }
    }

    #[test]
    fn truncates_at_256_tokens_not_at_the_tokenizer_files_128() {
        let tiny = TinyModel::new();
        let e = load(&tiny, 8);
        let long = TinyModel::words(300);
        assert_eq!(e.count_tokens(&long), 300);
        let first_254 = TinyModel::words(254);
        let first_126 = TinyModel::words(126);
        let got = e.embed(&[&long, &first_254, &first_126]).unwrap();
        let diff = max_abs_diff(&got[0], &got[1]);
        assert!(diff < 1e-5, "300 words should embed as their first 254 (diff {diff})");
        assert!(
            max_abs_diff(&got[0], &got[2]) > 1e-3,
            "the input was truncated at 128 tokens, as tokenizer.json says, instead of 256"
        );
    }

    #[test]
    fn counts_tokens_without_specials_padding_or_truncation() {
        let tiny = TinyModel::new();
        let e = load(&tiny, 8);
        assert_eq!(e.count_tokens(""), 0);
        assert_eq!(e.count_tokens("hello world"), 2);
        // "jumps" is in the vocabulary, "walking" splits into walk + ##ing, punctuation is split.
        assert_eq!(e.count_tokens("Walking, jumps!"), 5);
        assert_eq!(e.count_tokens(&TinyModel::words(1000)), 1000);
    }

    #[test]
    fn empty_input_gives_empty_output() {
        let tiny = TinyModel::new();
        let e = load(&tiny, 8);
        assert!(e.embed(&[]).unwrap().is_empty());
    }

    #[test]
    fn batch_size_zero_is_treated_as_one() {
        let tiny = TinyModel::new();
        let e = load(&tiny, 0);
        assert_eq!(e.batch_size(), 1);
        assert_eq!(e.embed(&["a", "b", "c"]).unwrap().len(), 3);
    }

    #[test]
    fn weights_with_a_bert_prefix_load_to_the_same_model() {
        let plain = TinyModel::new();
        let prefixed = TinyModel::with_prefix("bert.");
        let a = load(&plain, 8).embed(&["the lazy dog"]).unwrap();
        let b = load(&prefixed, 8).embed(&["the lazy dog"]).unwrap();
        assert!(max_abs_diff(&a[0], &b[0]) < 1e-6);
    }

    #[test]
    fn concurrent_callers_get_consistent_results() {
        let tiny = TinyModel::new();
        let e = std::sync::Arc::new(load(&tiny, 4));
        let want = e.embed(&["the quick brown fox"]).unwrap();
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let e = e.clone();
                std::thread::spawn(move || e.embed(&["the quick brown fox", "hello"]).unwrap())
            })
            .collect();
        for h in handles {
            let got = h.join().unwrap();
            assert!(max_abs_diff(&got[0], &want[0]) < 1e-5);
        }
    }

    #[test]
    fn missing_directory_is_not_installed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("nope");
        match LocalEmbedder::load(&dir, &LocalOptions::default()) {
            Err(EmbedError::ModelNotInstalled { searched }) => assert_eq!(searched, vec![dir]),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn missing_file_is_invalid_and_named() {
        let tiny = TinyModel::new();
        fs::remove_file(tiny.dir().join("tokenizer.json")).unwrap();
        let err = LocalEmbedder::load(tiny.dir(), &LocalOptions::default()).unwrap_err();
        assert!(matches!(err, EmbedError::ModelInvalid { .. }), "{err:?}");
        assert!(err.to_string().contains("tokenizer.json"), "{err}");
    }

    #[test]
    fn corrupt_weights_are_invalid() {
        let tiny = TinyModel::new();
        fs::write(tiny.dir().join("model.safetensors"), b"not safetensors at all").unwrap();
        let err = LocalEmbedder::load(tiny.dir(), &LocalOptions::default()).unwrap_err();
        match &err {
            EmbedError::ModelInvalid { path, .. } => assert!(path.ends_with("model.safetensors")),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn weights_that_do_not_match_the_config_are_invalid() {
        let tiny = TinyModel::new();
        let cfg_path = tiny.dir().join("config.json");
        let mut cfg: serde_json::Value = serde_json::from_slice(&fs::read(&cfg_path).unwrap()).unwrap();
        cfg["intermediate_size"] = 48.into();
        fs::write(&cfg_path, serde_json::to_vec(&cfg).unwrap()).unwrap();
        let err = LocalEmbedder::load(tiny.dir(), &LocalOptions::default()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("intermediate.dense.weight") && msg.contains("shape"), "{msg}");
    }

    #[test]
    fn unsupported_config_is_invalid() {
        let tiny = TinyModel::new();
        let cfg_path = tiny.dir().join("config.json");
        let mut cfg: serde_json::Value = serde_json::from_slice(&fs::read(&cfg_path).unwrap()).unwrap();
        cfg["num_attention_heads"] = 5.into();
        fs::write(&cfg_path, serde_json::to_vec(&cfg).unwrap()).unwrap();
        let err = LocalEmbedder::load(tiny.dir(), &LocalOptions::default()).unwrap_err();
        assert!(err.to_string().contains("num_attention_heads"), "{err}");
        assert!(matches!(err, EmbedError::ModelInvalid { .. }));
    }
}
