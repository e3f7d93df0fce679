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
//! while attention runs per sequence and head on views of the packed rows. Every step of a
//! layer is cut into tiles (products) or (sequence, head) tasks that the threads take as they
//! free up, so neither waits for the other while work remains, whatever other processes do to
//! their cores. Bias and activation run on each product tile as it is finished, residual +
//! bias + LayerNorm on each block of rows as soon as its last tile is ([`crate::kernels`]);
//! scratch buffers live per thread and are reused across batches.

use std::cell::RefCell;
use std::collections::HashMap;

use candle_core::{DType, Result as CandleResult, Tensor};

use crate::Precision;
use crate::kernels::{self, Activation, Hooks, Threads, WeightMatrix};
use crate::stages::{self, Stage, StageTimes};
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

    /// `dst (rows × out) = xs (rows × in) · W` (`+=` when `accumulate`), then `hooks` (the
    /// bias is theirs to add).
    fn matmul_then(&self, dst: &mut [f32], xs: &[f32], rows: usize, accumulate: bool, threads: Threads, hooks: Hooks) {
        self.weight.matmul_then(dst, self.weight.n(), xs, self.inp, rows, accumulate, threads, hooks);
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
}

impl Scratch {
    fn floats(&self) -> usize {
        self.qkv.capacity() + self.context.capacity() + self.inner.capacity()
    }
}

/// Most scratch floats a thread keeps between batches (64 MiB): enough for 32 inputs of 128
/// tokens with all-MiniLM-L6-v2.
const MAX_KEPT_SCRATCH: usize = 16 << 20;

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
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
    /// `threads` threads of the current rayon pool. With `times`, each stage's wall and busy
    /// time is added there.
    pub(crate) fn forward(
        &self,
        seqs: &[&[u32]],
        out: &mut Vec<f32>,
        threads: usize,
        times: Option<&StageTimes>,
    ) -> Result<(), String> {
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
        stages::serial(times, Stage::Embeddings, || {
            for (row, (pos, &id)) in xs.chunks_exact_mut(h).zip(seqs.iter().flat_map(|s| s.iter().enumerate())) {
                let word = &self.word_embeddings[id as usize * h..][..h];
                let place = &self.position_and_type[pos * h..][..h];
                for ((x, w), p) in row.iter_mut().zip(word).zip(place) {
                    *x = w + p;
                }
            }
            kernels::bias_layer_norm(xs, None, &self.embedding_norm.gamma, &self.embedding_norm.beta, self.eps);
        });
        if rows == 0 {
            return Ok(());
        }
        let lens: Vec<usize> = seqs.iter().map(|s| s.len()).collect();
        let threads = Threads(threads.max(1));
        // Taken out of the thread-local rather than borrowed: while a step waits for its last
        // tile, rayon may run another embedding call on this same thread, which then gets fresh
        // buffers.
        let mut scratch = SCRATCH.take();
        for layer in &self.layers {
            self.layer_forward(layer, xs, rows, &lens, &mut scratch, threads, times);
        }
        // Buffers of unusually large batches are not kept: they would pin memory for good.
        if scratch.floats() <= MAX_KEPT_SCRATCH {
            SCRATCH.set(scratch);
        }
        Ok(())
    }

    /// One transformer layer on the packed rows `xs`, in five steps, each split into tiles or
    /// tasks that the threads take as they free up (so each step ends when its last tile
    /// does, whichever thread is slower): the QKV product (+ bias), attention, the attention
    /// output product (+ residual, then bias + LayerNorm per block of rows as soon as the
    /// block is done), the intermediate product (+ bias, GELU per tile) and the output product
    /// (+ residual, bias + LayerNorm per block).
    #[allow(clippy::too_many_arguments)]
    fn layer_forward(
        &self,
        layer: &Layer,
        xs: &mut [f32],
        rows: usize,
        lens: &[usize],
        scratch: &mut Scratch,
        threads: Threads,
        times: Option<&StageTimes>,
    ) {
        let (h, inter) = (self.hidden, self.intermediate);
        let hooks = |stage: Stage| Hooks { times: times.map(|t| (t, stage)), ..Hooks::default() };

        let qkv = sized(&mut scratch.qkv, rows * 3 * h);
        let add_bias =
            |_: usize, c0: usize, row: &mut [f32]| kernels::add_bias(row, &layer.qkv.bias[c0..][..row.len()]);
        stages::phase(times, Stage::Qkv, || {
            let hooks = Hooks { tile_row: Some(&add_bias), ..hooks(Stage::Qkv) };
            layer.qkv.matmul_then(qkv, xs, rows, false, threads, hooks);
        });

        let context = sized(&mut scratch.context, rows * h);
        stages::phase(times, Stage::Attention, || {
            kernels::attention(qkv, context, lens, (h, self.heads), threads, times);
        });

        let inner = sized(&mut scratch.inner, rows * inter);
        let attention_norm = residual_norm(&layer.attention_out, &layer.attention_norm, self.eps);
        let activate = |_: usize, c0: usize, row: &mut [f32]| {
            kernels::bias_activation(row, &layer.intermediate.bias[c0..][..row.len()], self.activation)
        };
        let output_norm = residual_norm(&layer.output, &layer.output_norm, self.eps);
        stages::phase(times, Stage::FeedForward, || {
            let ff = hooks(Stage::FeedForward);
            // x = LayerNorm(x + context · Wo + bo)
            layer.attention_out.matmul_then(
                xs,
                context,
                rows,
                true,
                threads,
                Hooks { rows: Some(&attention_norm), ..ff },
            );
            // x = LayerNorm(x + act(x · Wi + bi) · Wo + bo)
            layer.intermediate.matmul_then(inner, xs, rows, false, threads, Hooks { tile_row: Some(&activate), ..ff });
            layer.output.matmul_then(xs, inner, rows, true, threads, Hooks { rows: Some(&output_norm), ..ff });
        });
    }
}

/// The hook that finishes a block of rows after a product added into the residual: the
/// product's bias, then LayerNorm.
fn residual_norm<'a>(linear: &'a Linear, norm: &'a LayerNorm, eps: f32) -> impl Fn(usize, &mut [f32]) + Sync + 'a {
    move |_, block| kernels::bias_layer_norm(block, Some(&linear.bias), &norm.gamma, &norm.beta, eps)
}
