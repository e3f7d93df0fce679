//! Test fixtures for the crate's unit tests: [`TinyModel`], a complete model directory with a
//! tiny random-weight BERT (config.json, model.safetensors written with candle, and a
//! tokenizer.json with a small WordPiece vocabulary) in a temporary directory, plus an
//! independent, deliberately naive f64 forward pass to check the real one against.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use serde_json::json;

/// Special tokens, then ordinary words, then continuation pieces. Ids are positions.
const VOCAB: &[&str] = &[
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog",
    "hello", "world", "cat", "sat", "on", "mat", "a", "an", "is", "and", "of", "to", "in", "it", "red", "blue",
    "green", "walk", "run", "end", "again", ".", ",", "!", "?", "##s", "##ing", "##ed",
];

/// Ordinary single-token words used to build long inputs.
const WORDS: &[&str] = &[
    "the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "hello", "world", "cat", "sat", "on", "mat", "red",
    "blue", "green", "walk", "run", "again",
];

/// A tiny BERT model directory that lives as long as the value.
pub(crate) struct TinyModel {
    dir: tempfile::TempDir,
    /// PyTorch-layout weights by their unprefixed name: (shape, row-major values).
    weights: HashMap<String, (Vec<usize>, Vec<f32>)>,
}

/// A small deterministic generator (xorshift64*), so fixtures and property tests are the same
/// on every run.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    /// Uniform in [-1, 1).
    pub(crate) fn next(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let bits = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40; // 24 bits
        (bits as f32 / (1u64 << 23) as f32) - 1.0
    }

    /// `n` values uniform in `offset ± scale`.
    pub(crate) fn fill(&mut self, n: usize, scale: f32, offset: f32) -> Vec<f32> {
        (0..n).map(|_| offset + scale * self.next()).collect()
    }

    /// Uniform in `0..n`.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        ((self.next() + 1.0) * 0.5 * n as f32) as usize % n
    }
}

impl TinyModel {
    pub const HIDDEN: usize = 32;
    pub const HEADS: usize = 4;
    pub const LAYERS: usize = 2;
    pub const INTERMEDIATE: usize = 64;
    pub const EPS: f64 = 1e-12;

    /// 512 positions, tensors named like all-MiniLM-L6-v2's (no prefix).
    pub fn new() -> Self {
        Self::build("", 512)
    }

    /// Same weights, tensor names prefixed (e.g. `bert.`), as in some checkpoints.
    pub fn with_prefix(prefix: &str) -> Self {
        Self::build(prefix, 512)
    }

    /// A position table with only `n` rows.
    pub fn with_max_positions(n: usize) -> Self {
        Self::build("", n)
    }

    /// The model directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `n` in-vocabulary words, one token each; `words(k)` is a prefix of `words(n)` for k < n.
    pub fn words(n: usize) -> String {
        (0..n).map(|i| WORDS[(i * 7 + i / WORDS.len()) % WORDS.len()]).collect::<Vec<_>>().join(" ")
    }

    fn build(prefix: &str, max_positions: usize) -> Self {
        let (h, inter, vocab) = (Self::HIDDEN, Self::INTERMEDIATE, VOCAB.len());
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut weights = HashMap::new();
        let mut put = |name: String, shape: Vec<usize>, scale: f32, offset: f32| {
            let n = shape.iter().product();
            let values = rng.fill(n, scale, offset);
            weights.insert(name, (shape, values));
        };
        put("embeddings.word_embeddings.weight".into(), vec![vocab, h], 0.8, 0.0);
        put("embeddings.position_embeddings.weight".into(), vec![max_positions, h], 0.8, 0.0);
        put("embeddings.token_type_embeddings.weight".into(), vec![2, h], 0.8, 0.0);
        put("embeddings.LayerNorm.weight".into(), vec![h], 0.2, 1.0);
        put("embeddings.LayerNorm.bias".into(), vec![h], 0.2, 0.0);
        let lin = |inp: usize| 2.0 / (inp as f32).sqrt();
        for l in 0..Self::LAYERS {
            let b = format!("encoder.layer.{l}");
            for (name, out, inp) in [
                ("attention.self.query", h, h),
                ("attention.self.key", h, h),
                ("attention.self.value", h, h),
                ("attention.output.dense", h, h),
                ("intermediate.dense", inter, h),
                ("output.dense", h, inter),
            ] {
                put(format!("{b}.{name}.weight"), vec![out, inp], lin(inp), 0.0);
                put(format!("{b}.{name}.bias"), vec![out], 0.2, 0.0);
            }
            for name in ["attention.output.LayerNorm", "output.LayerNorm"] {
                put(format!("{b}.{name}.weight"), vec![h], 0.2, 1.0);
                put(format!("{b}.{name}.bias"), vec![h], 0.2, 0.0);
            }
        }
        put("pooler.dense.weight".into(), vec![h, h], 0.1, 0.0);
        put("pooler.dense.bias".into(), vec![h], 0.1, 0.0);

        let dir = tempfile::tempdir().unwrap();
        let mut tensors: HashMap<String, Tensor> = weights
            .iter()
            .map(|(name, (shape, values))| {
                let t = Tensor::from_slice(values, shape.as_slice(), &Device::Cpu).unwrap();
                (format!("{prefix}{name}"), t)
            })
            .collect();
        // An integer buffer, as in real checkpoints; the loader must ignore it.
        let position_ids: Vec<i64> = (0..max_positions as i64).collect();
        tensors.insert(
            format!("{prefix}embeddings.position_ids"),
            Tensor::from_vec(position_ids, (1, max_positions), &Device::Cpu).unwrap(),
        );
        candle_core::safetensors::save(&tensors, dir.path().join("model.safetensors")).unwrap();

        let config = json!({
            "architectures": ["BertModel"],
            "model_type": "bert",
            "hidden_act": "gelu",
            "hidden_size": h,
            "intermediate_size": inter,
            "num_attention_heads": Self::HEADS,
            "num_hidden_layers": Self::LAYERS,
            "max_position_embeddings": max_positions,
            "type_vocab_size": 2,
            "vocab_size": vocab,
            "layer_norm_eps": Self::EPS,
            "pad_token_id": 0,
            "position_embedding_type": "absolute",
        });
        std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
        std::fs::write(dir.path().join("tokenizer.json"), tokenizer_json().to_string()).unwrap();
        TinyModel { dir, weights }
    }

    fn w(&self, name: &str) -> &[f32] {
        &self.weights[name].1
    }

    /// The sentence-transformers embedding of one unpadded token sequence, computed in f64 with
    /// plain loops straight from the PyTorch-layout weights.
    pub fn naive_embedding(&self, ids: &[u32]) -> Vec<f32> {
        let (h, inter) = (Self::HIDDEN, Self::INTERMEDIATE);
        let (heads, dh) = (Self::HEADS, Self::HIDDEN / Self::HEADS);
        let n = ids.len();
        let word = self.w("embeddings.word_embeddings.weight");
        let pos = self.w("embeddings.position_embeddings.weight");
        let typ = self.w("embeddings.token_type_embeddings.weight");
        let mut x: Vec<Vec<f64>> = (0..n)
            .map(|t| {
                let id = ids[t] as usize;
                (0..h).map(|j| word[id * h + j] as f64 + typ[j] as f64 + pos[t * h + j] as f64).collect()
            })
            .collect();
        self.naive_ln(&mut x, "embeddings.LayerNorm");
        for l in 0..Self::LAYERS {
            let b = format!("encoder.layer.{l}");
            let q = self.naive_linear(&x, &format!("{b}.attention.self.query"));
            let k = self.naive_linear(&x, &format!("{b}.attention.self.key"));
            let v = self.naive_linear(&x, &format!("{b}.attention.self.value"));
            let mut ctx = vec![vec![0f64; h]; n];
            for hd in 0..heads {
                let r = hd * dh..(hd + 1) * dh;
                for i in 0..n {
                    let scores: Vec<f64> = (0..n)
                        .map(|j| r.clone().map(|d| q[i][d] * k[j][d]).sum::<f64>() / (dh as f64).sqrt())
                        .collect();
                    let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let exps: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                    let z: f64 = exps.iter().sum();
                    for d in r.clone() {
                        ctx[i][d] = (0..n).map(|j| exps[j] / z * v[j][d]).sum();
                    }
                }
            }
            let mut a = self.naive_linear(&ctx, &format!("{b}.attention.output.dense"));
            add(&mut a, &x);
            self.naive_ln(&mut a, &format!("{b}.attention.output.LayerNorm"));
            let mut mid = self.naive_linear(&a, &format!("{b}.intermediate.dense"));
            for row in &mut mid {
                for v in row.iter_mut() {
                    *v = 0.5 * *v * (1.0 + erf(*v / std::f64::consts::SQRT_2));
                }
            }
            assert_eq!(mid[0].len(), inter);
            let mut o = self.naive_linear(&mid, &format!("{b}.output.dense"));
            add(&mut o, &a);
            self.naive_ln(&mut o, &format!("{b}.output.LayerNorm"));
            x = o;
        }
        let mut mean = vec![0f64; h];
        for row in &x {
            for (m, v) in mean.iter_mut().zip(row) {
                *m += v / n as f64;
            }
        }
        let norm = mean.iter().map(|v| v * v).sum::<f64>().sqrt();
        mean.iter().map(|v| (v / norm) as f32).collect()
    }

    fn naive_linear(&self, x: &[Vec<f64>], base: &str) -> Vec<Vec<f64>> {
        let (shape, w) = &self.weights[&format!("{base}.weight")];
        let bias = self.w(&format!("{base}.bias"));
        let (out, inp) = (shape[0], shape[1]);
        x.iter()
            .map(|row| {
                (0..out)
                    .map(|o| bias[o] as f64 + (0..inp).map(|i| w[o * inp + i] as f64 * row[i]).sum::<f64>())
                    .collect()
            })
            .collect()
    }

    fn naive_ln(&self, x: &mut [Vec<f64>], base: &str) {
        let g = self.w(&format!("{base}.weight"));
        let b = self.w(&format!("{base}.bias"));
        for row in x {
            let n = row.len() as f64;
            let mean = row.iter().sum::<f64>() / n;
            let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
            let inv = 1.0 / (var + Self::EPS).sqrt();
            for (j, v) in row.iter_mut().enumerate() {
                *v = (*v - mean) * inv * g[j] as f64 + b[j] as f64;
            }
        }
    }
}

fn add(x: &mut [Vec<f64>], y: &[Vec<f64>]) {
    for (a, b) in x.iter_mut().zip(y) {
        for (p, q) in a.iter_mut().zip(b) {
            *p += q;
        }
    }
}

/// erf to ~1e-12: Maclaurin series for |x| <= 3, asymptotic erfc beyond.
pub(crate) fn erf(x: f64) -> f64 {
    let ax = x.abs();
    let value = if ax <= 3.0 {
        let mut term = ax;
        let mut sum = ax;
        let mut n = 0.0;
        while term.abs() > 1e-17 * sum.abs().max(1e-300) {
            n += 1.0;
            term *= -ax * ax / n;
            sum += term / (2.0 * n + 1.0);
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    } else {
        let x2 = ax * ax;
        let series = 1.0 - 1.0 / (2.0 * x2) + 3.0 / (4.0 * x2 * x2) - 15.0 / (8.0 * x2 * x2 * x2)
            + 105.0 / (16.0 * x2 * x2 * x2 * x2);
        1.0 - (-x2).exp() / (ax * std::f64::consts::PI.sqrt()) * series
    };
    value.copysign(x)
}

/// A BERT-style tokenizer.json over [`VOCAB`], with the same normalizer, pre-tokenizer and
/// post-processor as all-MiniLM-L6-v2's, and its fixed truncation and padding at 128, which
/// the loader must override.
fn tokenizer_json() -> serde_json::Value {
    let vocab: serde_json::Map<String, serde_json::Value> =
        VOCAB.iter().enumerate().map(|(i, t)| (t.to_string(), json!(i))).collect();
    let added: Vec<_> = VOCAB[..5]
        .iter()
        .enumerate()
        .map(|(i, t)| {
            json!({"id": i, "content": t, "single_word": false, "lstrip": false,
                   "rstrip": false, "normalized": false, "special": true})
        })
        .collect();
    json!({
        "version": "1.0",
        "truncation": {"direction": "Right", "max_length": 128, "strategy": "LongestFirst", "stride": 0},
        "padding": {"strategy": {"Fixed": 128}, "direction": "Right", "pad_to_multiple_of": null,
                    "pad_id": 0, "pad_type_id": 0, "pad_token": "[PAD]"},
        "added_tokens": added,
        "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                       "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {
                "[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]},
                "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}
            }
        },
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab}
    })
}

/// Cosine similarity.
pub(crate) fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

/// Largest element-wise difference; infinite when the lengths differ.
pub(crate) fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return f32::INFINITY;
    }
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn erf_matches_known_values() {
    for (x, want) in [
        (0.0, 0.0),
        (0.5, 0.520_499_877_813_046_5),
        (1.0, 0.842_700_792_949_714_9),
        (2.0, 0.995_322_265_018_952_7),
        (3.5, 0.999_999_256_901_627_7),
        (-1.0, -0.842_700_792_949_714_9),
    ] {
        assert!((erf(x) - want).abs() < 1e-10, "erf({x}) = {} != {want}", erf(x));
    }
}
