//! A minimal BERT encoder: token + position + token-type embeddings, then N post-LayerNorm
//! transformer layers, returning the last hidden state (no pooler). It owns reading a Hugging
//! Face `config.json`, mapping safetensors weights (with or without a `bert.` prefix) onto the
//! layers, and a hand-written CPU forward pass. Token types are always 0, as for
//! single-sentence embedding.
//!
//! Load-time preparation keeps the forward pass lean: linear weights are transposed once into
//! contiguous `(in, out)` matrices, the query/key/value projections are fused into one matrix
//! with the `1/sqrt(head_dim)` attention scale folded into the query part, and the position and
//! token-type-0 embeddings are pre-added. candle is used only to read the safetensors file.
//! With [`Precision::Int16`] the four linear layers of every transformer layer (QKV, attention
//! output, feed-forward in and out) are quantized at load time; embeddings, attention scores,
//! softmax, LayerNorm and GELU stay in f32.
//!
//! The forward pass packs the tokens of all sequences of a batch into one matrix, so the big
//! matrix products (QKV, attention output, feed-forward) run once per batch with no padding,
//! while attention runs per sequence and head on views of the packed rows. Bias, activation,
//! residual and LayerNorm are fused into single passes ([`crate::kernels`]); scratch buffers
//! live per thread and are reused across batches.

use std::cell::RefCell;
use std::collections::HashMap;

use candle_core::{DType, Result as CandleResult, Tensor};

use rayon::prelude::*;

use crate::Precision;
use crate::kernels::{self, Activation, Threads, View, WeightMatrix};
use serde::Deserialize;

/// The fields of a Hugging Face BERT `config.json` this encoder uses.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct BertConfig {
    /// Rows of the word-embedding table.
    pub vocab_size: usize,
    /// Width of every hidden state (384 for all-MiniLM-L6-v2).
    pub hidden_size: usize,
    /// Number of transformer layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer; must divide `hidden_size`.
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Feed-forward activation: `gelu` (exact, erf-based), `gelu_new`/`gelu_pytorch_tanh`
    /// (tanh approximation) or `relu`.
    #[serde(default = "default_hidden_act")]
    pub hidden_act: String,
    /// Rows of the position-embedding table: the longest input the model accepts.
    pub max_position_embeddings: usize,
    /// Rows of the token-type table.
    #[serde(default = "default_type_vocab_size")]
    pub type_vocab_size: usize,
    /// Epsilon of every LayerNorm.
    #[serde(default = "default_layer_norm_eps")]
    pub layer_norm_eps: f64,
    /// Only `absolute` (the default) is supported.
    #[serde(default)]
    pub position_embedding_type: Option<String>,
}

fn default_hidden_act() -> String {
    "gelu".to_string()
}

fn default_type_vocab_size() -> usize {
    2
}

fn default_layer_norm_eps() -> f64 {
    1e-12
}

impl BertConfig {
    /// Rejects configurations this encoder cannot run, saying why.
    pub(crate) fn validate(&self) -> Result<(), String> {
        let positive = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
            ("type_vocab_size", self.type_vocab_size),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(format!("{name} must be positive"));
            }
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if let Some(kind) = &self.position_embedding_type
            && kind != "absolute"
        {
            return Err(format!("position_embedding_type {kind:?} is not supported (only \"absolute\")"));
        }
        parse_activation(&self.hidden_act)?;
        if !(self.layer_norm_eps.is_finite() && self.layer_norm_eps > 0.0) {
            return Err(format!("layer_norm_eps {} is not a positive number", self.layer_norm_eps));
        }
        Ok(())
    }
}

/// Looks tensors up by their Hugging Face names, whatever prefix the checkpoint uses.
struct Weights {
    tensors: HashMap<String, Tensor>,
    prefix: &'static str,
}

impl Weights {
    fn new(tensors: HashMap<String, Tensor>) -> Result<Self, String> {
        const PROBE: &str = "embeddings.word_embeddings.weight";
        let prefix = ["", "bert.", "model.", "model.bert."]
            .into_iter()
            .find(|p| tensors.contains_key(&format!("{p}{PROBE}")))
            .ok_or_else(|| {
                let mut names: Vec<&str> = tensors.keys().map(String::as_str).collect();
                names.sort_unstable();
                names.truncate(5);
                format!(
                    "no BERT word embeddings ({PROBE}, optionally prefixed by `bert.`) among the \
                     tensors (first names: {})",
                    names.join(", ")
                )
            })?;
        Ok(Weights { tensors, prefix })
    }

    /// Takes the first of `names` that exists, checks its shape, and converts it to f32.
    fn take(&mut self, names: &[&str], shape: &[usize]) -> Result<Tensor, String> {
        let full = |n: &str| format!("{}{n}", self.prefix);
        let (name, tensor) = names
            .iter()
            .find_map(|n| self.tensors.remove(&full(n)).map(|t| (full(n), t)))
            .ok_or_else(|| format!("tensor {} is missing", full(names[0])))?;
        if tensor.dims() != shape {
            return Err(format!("tensor {name} has shape {:?} but config.json implies {shape:?}", tensor.dims()));
        }
        tensor.to_dtype(DType::F32).map_err(|e| format!("tensor {name} cannot be converted to f32: {e}"))
    }

    fn layer_norm(&mut self, base: &str, width: usize) -> Result<LayerNorm, String> {
        let weight = self.take(&[&format!("{base}.weight"), &format!("{base}.gamma")], &[width])?;
        let bias = self.take(&[&format!("{base}.bias"), &format!("{base}.beta")], &[width])?;
        let values = |t: &Tensor| t.to_vec1::<f32>().map_err(|e| format!("preparing {base}: {e}"));
        Ok(LayerNorm { gamma: values(&weight)?, beta: values(&bias)? })
    }

    fn weight_and_bias(&mut self, base: &str, out: usize, inp: usize) -> Result<(Tensor, Tensor), String> {
        let weight = self.take(&[&format!("{base}.weight")], &[out, inp])?;
        let bias = self.take(&[&format!("{base}.bias")], &[out])?;
        Ok((weight, bias))
    }

    fn linear(&mut self, base: &str, out: usize, inp: usize, precision: Precision) -> Result<Linear, String> {
        let (weight, bias) = self.weight_and_bias(base, out, inp)?;
        Linear::from_torch(&weight, &bias, precision).map_err(|e| format!("preparing {base}: {e}"))
    }
}

fn parse_activation(name: &str) -> Result<Activation, String> {
    match name {
        "gelu" => Ok(Activation::GeluErf),
        "gelu_new" | "gelu_pytorch_tanh" => Ok(Activation::GeluTanh),
        "relu" => Ok(Activation::Relu),
        other => Err(format!("hidden_act {other:?} is not supported")),
    }
}

/// LayerNorm parameters.
struct LayerNorm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

/// A linear layer: its `(in, out)` weight matrix, prepared for the fastest kernel, plus bias.
struct Linear {
    /// `(in, out)`: `xs · weight` is the layer's product.
    weight: WeightMatrix,
    bias: Vec<f32>,
    inp: usize,
}

impl Linear {
    /// From PyTorch's `(out, in)` weight layout.
    fn from_torch(weight: &Tensor, bias: &Tensor, precision: Precision) -> CandleResult<Self> {
        let (out, inp) = weight.dims2()?;
        let weight_t = weight.t()?.contiguous()?.flatten_all()?.to_vec1()?;
        Ok(Linear { weight: WeightMatrix::new(weight_t, inp, out, precision), bias: bias.to_vec1()?, inp })
    }

    /// `dst (rows × out) = xs (rows × in) · W` (`+=` when `accumulate`); no bias.
    fn matmul(&self, dst: &mut [f32], xs: &[f32], rows: usize, accumulate: bool, threads: Threads) {
        self.weight.matmul(dst, self.weight.n(), xs, self.inp, rows, accumulate, threads);
    }
}

/// One transformer layer.
struct Layer {
    /// Query, key and value fused: `(hidden, 3 * hidden)`, query part pre-scaled.
    qkv: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
}

/// The encoder, ready to run.
pub(crate) struct Bert {
    /// `(vocab, hidden)`, row-major.
    word_embeddings: Vec<f32>,
    /// `(max_positions, hidden)`: position embeddings plus the token-type-0 embedding.
    position_and_type: Vec<f32>,
    embedding_norm: LayerNorm,
    layers: Vec<Layer>,
    hidden: usize,
    heads: usize,
    head_dim: usize,
    intermediate: usize,
    vocab: usize,
    max_positions: usize,
    eps: f32,
    activation: Activation,
}

/// Buffers of one forward pass, kept per thread and reused, so that steady-state embedding
/// allocates nothing but its results.
#[derive(Default)]
struct Scratch {
    qkv: Vec<f32>,
    context: Vec<f32>,
    inner: Vec<f32>,
    scores: Vec<f32>,
}

impl Scratch {
    fn floats(&self) -> usize {
        self.qkv.capacity() + self.context.capacity() + self.inner.capacity() + self.scores.capacity()
    }
}

/// Most scratch floats a thread keeps between batches (64 MiB): enough for 32 inputs of 128
/// tokens with all-MiniLM-L6-v2.
const MAX_KEPT_SCRATCH: usize = 16 << 20;

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
    /// Attention scores of the parallel (sequence, head) tasks running on this thread.
    static TASK_SCORES: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Makes `buf` exactly `len` long, reusing its allocation (contents are unspecified).
fn sized(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
    buf.resize(len, 0.0);
    &mut buf[..len]
}

impl Bert {
    /// Builds the encoder from the tensors of a safetensors file, checking every shape against
    /// `cfg`. The error is a human-readable reason.
    pub(crate) fn new(
        cfg: &BertConfig,
        tensors: HashMap<String, Tensor>,
        precision: Precision,
    ) -> Result<Self, String> {
        cfg.validate()?;
        let (h, inter) = (cfg.hidden_size, cfg.intermediate_size);
        let heads = cfg.num_attention_heads;
        let head_dim = h / heads;
        let eps = cfg.layer_norm_eps as f32;
        let mut w = Weights::new(tensors)?;
        let prep = |what: &str, e: candle_core::Error| format!("preparing {what}: {e}");
        let flat = |what: &str, t: &Tensor| t.flatten_all().and_then(|t| t.to_vec1::<f32>()).map_err(|e| prep(what, e));

        let word_embeddings = w.take(&["embeddings.word_embeddings.weight"], &[cfg.vocab_size, h])?;
        let positions = w.take(&["embeddings.position_embeddings.weight"], &[cfg.max_position_embeddings, h])?;
        let types = w.take(&["embeddings.token_type_embeddings.weight"], &[cfg.type_vocab_size, h])?;
        let position_and_type =
            types.get(0).and_then(|t0| positions.broadcast_add(&t0)).map_err(|e| prep("embeddings", e))?;
        let embedding_norm = w.layer_norm("embeddings.LayerNorm", h)?;

        let scale = 1.0 / (head_dim as f64).sqrt();
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let base = format!("encoder.layer.{i}");
            let (qw, qb) = w.weight_and_bias(&format!("{base}.attention.self.query"), h, h)?;
            let (kw, kb) = w.weight_and_bias(&format!("{base}.attention.self.key"), h, h)?;
            let (vw, vb) = w.weight_and_bias(&format!("{base}.attention.self.value"), h, h)?;
            let qkv = (|| {
                let weight = Tensor::cat(&[(qw * scale)?, kw, vw], 0)?;
                let bias = Tensor::cat(&[(qb * scale)?, kb, vb], 0)?;
                Linear::from_torch(&weight, &bias, precision)
            })()
            .map_err(|e| prep(&format!("{base}.attention"), e))?;
            layers.push(Layer {
                qkv,
                attention_out: w.linear(&format!("{base}.attention.output.dense"), h, h, precision)?,
                attention_norm: w.layer_norm(&format!("{base}.attention.output.LayerNorm"), h)?,
                intermediate: w.linear(&format!("{base}.intermediate.dense"), inter, h, precision)?,
                output: w.linear(&format!("{base}.output.dense"), h, inter, precision)?,
                output_norm: w.layer_norm(&format!("{base}.output.LayerNorm"), h)?,
            });
        }
        if w.tensors.keys().any(|k| k.contains(&format!("encoder.layer.{}.", cfg.num_hidden_layers))) {
            return Err(format!("the weights have more layers than num_hidden_layers = {}", cfg.num_hidden_layers));
        }
        Ok(Bert {
            word_embeddings: flat("embeddings", &word_embeddings)?,
            position_and_type: flat("embeddings", &position_and_type)?,
            embedding_norm,
            layers,
            hidden: h,
            heads,
            head_dim,
            intermediate: inter,
            vocab: cfg.vocab_size,
            max_positions: cfg.max_position_embeddings,
            eps,
            activation: parse_activation(&cfg.hidden_act)?,
        })
    }

    /// Width of the hidden states [`Bert::forward`] returns.
    pub(crate) fn hidden_size(&self) -> usize {
        self.hidden
    }

    /// Runs the encoder on a batch of unpadded token sequences, packed one after another.
    ///
    /// Every sequence attends only to itself, so no padding is computed and the result for a
    /// sequence does not depend on the others. `out` receives the last hidden state: one row of
    /// `hidden` values per token, sequence after sequence. Matrix products use up to
    /// `threads` threads of the current rayon pool.
    pub(crate) fn forward(&self, seqs: &[&[u32]], out: &mut Vec<f32>, threads: usize) -> Result<(), String> {
        let vocab = self.vocab;
        for seq in seqs {
            if seq.len() > self.max_positions {
                return Err(format!(
                    "sequence of {} tokens exceeds the model's {} positions",
                    seq.len(),
                    self.max_positions
                ));
            }
            if let Some(bad) = seq.iter().find(|&&id| id as usize >= vocab) {
                return Err(format!("token id {bad} is outside the model's vocabulary of {vocab}"));
            }
        }
        let h = self.hidden;
        let rows: usize = seqs.iter().map(|s| s.len()).sum();
        let xs = sized(out, rows * h);
        for (row, (pos, &id)) in xs.chunks_exact_mut(h).zip(seqs.iter().flat_map(|s| s.iter().enumerate())) {
            let word = &self.word_embeddings[id as usize * h..][..h];
            let place = &self.position_and_type[pos * h..][..h];
            for ((x, w), p) in row.iter_mut().zip(word).zip(place) {
                *x = w + p;
            }
        }
        kernels::bias_layer_norm(xs, None, &self.embedding_norm.gamma, &self.embedding_norm.beta, self.eps);
        if rows == 0 {
            return Ok(());
        }
        let lens: Vec<usize> = seqs.iter().map(|s| s.len()).collect();
        let threads = Threads(threads.max(1));
        // Taken out of the thread-local rather than borrowed: while a multi-threaded GEMM waits,
        // rayon may run another embedding call on this same thread, which then gets fresh buffers.
        let mut scratch = SCRATCH.take();
        for layer in &self.layers {
            self.layer_forward(layer, xs, rows, &lens, &mut scratch, threads);
        }
        // Buffers of unusually large batches are not kept: they would pin memory for good.
        if scratch.floats() <= MAX_KEPT_SCRATCH {
            SCRATCH.set(scratch);
        }
        Ok(())
    }

    fn layer_forward(
        &self,
        layer: &Layer,
        xs: &mut [f32],
        rows: usize,
        lens: &[usize],
        scratch: &mut Scratch,
        threads: Threads,
    ) {
        let (h, inter) = (self.hidden, self.intermediate);
        // Row-independent work runs on blocks of rows, one block per task, each GEMM on one
        // thread; with too few rows for that, one block whose GEMMs use all threads.
        let (block, gemm_threads) = if threads.0 > 1 && rows >= MIN_ROWS_PER_THREAD * threads.0 {
            let blocks = threads.0 * rows.div_ceil(threads.0 * MAX_BLOCK_ROWS);
            (rows.div_ceil(blocks), Threads(1))
        } else {
            (rows.div_ceil(rows.div_ceil(MAX_BLOCK_ROWS).max(1)).max(1), threads)
        };

        let qkv = sized(&mut scratch.qkv, rows * 3 * h);
        each_block(threads, xs.chunks_mut(block * h).zip(qkv.chunks_mut(block * 3 * h)), |(x, qkv)| {
            for row in qkv.chunks_exact_mut(3 * h) {
                row.copy_from_slice(&layer.qkv.bias);
            }
            layer.qkv.matmul(qkv, x, x.len() / h, true, gemm_threads);
        });

        let context = sized(&mut scratch.context, rows * h);
        self.attention(qkv, context, lens, &mut scratch.scores, threads);

        let feed_forward = |x: &mut [f32], context: &[f32], inner: &mut [f32]| {
            let n = x.len() / h;
            let inner = &mut inner[..n * inter];
            // x = LayerNorm(x + context · Wo + bo)
            layer.attention_out.matmul(x, context, n, true, gemm_threads);
            let norm = &layer.attention_norm;
            kernels::bias_layer_norm(x, Some(&layer.attention_out.bias), &norm.gamma, &norm.beta, self.eps);
            // x = LayerNorm(x + act(x · Wi + bi) · Wo + bo)
            layer.intermediate.matmul(inner, x, n, false, gemm_threads);
            kernels::bias_activation(inner, &layer.intermediate.bias, self.activation);
            layer.output.matmul(x, inner, n, true, gemm_threads);
            let norm = &layer.output_norm;
            kernels::bias_layer_norm(x, Some(&layer.output.bias), &norm.gamma, &norm.beta, self.eps);
        };
        let blocks = xs.chunks_mut(block * h).zip(context.chunks(block * h));
        if gemm_threads.0 == 1 && threads.0 > 1 {
            // Blocks in parallel, each with its own intermediate.
            let inner = sized(&mut scratch.inner, rows * inter);
            each_block(threads, blocks.zip(inner.chunks_mut(block * inter)), |((x, context), inner)| {
                feed_forward(x, context, inner)
            });
        } else {
            // Blocks one after another, sharing one block-sized intermediate.
            let inner = sized(&mut scratch.inner, block * inter);
            for (x, context) in blocks {
                feed_forward(x, context, inner);
            }
        }
    }

    /// Self-attention of each sequence, per head, on the packed rows: scores = Q Kᵀ (Q is
    /// pre-scaled), softmax in place, context = P V into the head's columns of `context`.
    fn attention(&self, qkv: &[f32], context: &mut [f32], lens: &[usize], scores: &mut Vec<f32>, threads: Threads) {
        let (h, dh) = (self.hidden, self.head_dim);
        let starts: Vec<usize> = lens
            .iter()
            .scan(0, |next, &len| {
                let start = *next;
                *next += len;
                Some(start)
            })
            .collect();
        // One head of one sequence: its context columns, `len × dh` with row stride `ctx_rs`.
        let head = |seq: usize, head: usize, out: &mut [f32], ctx_rs: usize, scores: &mut [f32]| {
            let (start, len) = (starts[seq], lens[seq]);
            let seq_qkv = &qkv[start * 3 * h..(start + len) * 3 * h];
            let scores = &mut scores[..len * len];
            let q = View { data: &seq_qkv[head * dh..], rs: 3 * h, cs: 1 };
            let k_t = View { data: &seq_qkv[h + head * dh..], rs: 1, cs: 3 * h };
            kernels::matmul(scores, len, q, k_t, (len, len, dh), false, Threads(1));
            kernels::softmax_rows(scores, len);
            let p = View { data: scores, rs: len, cs: 1 };
            let v = View { data: &seq_qkv[2 * h + head * dh..], rs: 3 * h, cs: 1 };
            kernels::matmul(out, ctx_rs, p, v, (len, dh, len), false, Threads(1));
        };

        if threads.0 <= 1 {
            let longest = lens.iter().copied().max().unwrap_or(0);
            let scores = sized(scores, longest * longest);
            for (seq, &len) in lens.iter().enumerate() {
                let start = starts[seq];
                for hd in 0..self.heads {
                    if len > 0 {
                        head(seq, hd, &mut context[start * h + hd * dh..(start + len) * h], h, scores);
                    }
                }
            }
            return;
        }
        // In parallel: every (sequence, head) pair is a task writing its own `len × dh` block,
        // scattered into the context rows afterwards.
        let tasks: Vec<(usize, usize)> =
            (0..lens.len()).filter(|&s| lens[s] > 0).flat_map(|s| (0..self.heads).map(move |hd| (s, hd))).collect();
        let blocks: Vec<Vec<f32>> = tasks
            .par_iter()
            .map(|&(seq, hd)| {
                let len = lens[seq];
                let mut out = vec![0f32; len * dh];
                // Taken, not borrowed, in case rayon runs another task on this thread meanwhile.
                let mut scores = TASK_SCORES.take();
                head(seq, hd, &mut out, dh, sized(&mut scores, len * len));
                TASK_SCORES.set(scores);
                out
            })
            .collect();
        for (&(seq, hd), block) in tasks.iter().zip(&blocks) {
            let start = starts[seq];
            for (row, src) in context[start * h..].chunks_exact_mut(h).zip(block.chunks_exact(dh)) {
                row[hd * dh..(hd + 1) * dh].copy_from_slice(src);
            }
        }
    }
}

/// Fewest rows per thread for which splitting a matrix product by rows beats letting the GEMM
/// split its columns.
const MIN_ROWS_PER_THREAD: usize = 32;

/// Most rows in one block of row-independent work. Every block re-packs the weights for its
/// GEMMs (blocks of 256 rows cost ~4% more CPU than one block), so blocks are as large as the
/// thread count allows; this bound only keeps the feed-forward intermediate from growing with
/// the batch.
const MAX_BLOCK_ROWS: usize = 1024;

/// Runs `f` on every item, in parallel on the current rayon pool when `threads` > 1.
fn each_block<I, F>(threads: Threads, items: I, f: F)
where
    I: Iterator + Send,
    I::Item: Send,
    F: Fn(I::Item) + Sync + Send,
{
    if threads.0 <= 1 {
        items.for_each(f);
    } else {
        items.par_bridge().for_each(f);
    }
}
