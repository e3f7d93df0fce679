//! A minimal BERT encoder on candle: token + position + token-type embeddings, then N
//! post-LayerNorm transformer layers, returning the last hidden state (no pooler). It owns
//! reading a Hugging Face `config.json`, mapping safetensors weights (with or without a
//! `bert.` prefix) onto the layers, and the CPU forward pass with an attention mask for
//! right-padded batches. Token types are always 0, as for single-sentence embedding.
//!
//! Load-time preparation keeps the forward pass lean: linear weights are transposed once into
//! contiguous `(in, out)` matrices, the query/key/value projections are fused into one matrix
//! with the `1/sqrt(head_dim)` attention scale folded into the query part, and the position and
//! token-type-0 embeddings are pre-added.

use std::collections::HashMap;

use candle_core::{DType, Device, Result as CandleResult, Tensor};
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
        Activation::parse(&self.hidden_act)?;
        if !(self.layer_norm_eps.is_finite() && self.layer_norm_eps > 0.0) {
            return Err(format!("layer_norm_eps {} is not a positive number", self.layer_norm_eps));
        }
        Ok(())
    }
}

/// The feed-forward activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Activation {
    /// `0.5 x (1 + erf(x / sqrt 2))`, what Hugging Face calls `gelu`.
    GeluErf,
    /// The tanh approximation of GELU.
    GeluTanh,
    /// `max(0, x)`.
    Relu,
}

impl Activation {
    fn parse(name: &str) -> Result<Self, String> {
        match name {
            "gelu" => Ok(Activation::GeluErf),
            "gelu_new" | "gelu_pytorch_tanh" => Ok(Activation::GeluTanh),
            "relu" => Ok(Activation::Relu),
            other => Err(format!("hidden_act {other:?} is not supported")),
        }
    }

    fn apply(self, xs: &Tensor) -> CandleResult<Tensor> {
        match self {
            Activation::GeluErf => xs.gelu_erf(),
            Activation::GeluTanh => xs.gelu(),
            Activation::Relu => xs.relu(),
        }
    }
}

/// A LayerNorm over the last dimension.
#[derive(Debug)]
struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f32,
}

impl LayerNorm {
    fn forward(&self, xs: &Tensor) -> CandleResult<Tensor> {
        candle_nn::ops::layer_norm(xs, &self.weight, &self.bias, self.eps)
    }
}

/// A linear layer stored as a contiguous `(in, out)` matrix plus bias, applied to `(rows, in)`.
#[derive(Debug)]
struct Linear {
    weight_t: Tensor,
    bias: Tensor,
}

impl Linear {
    /// From PyTorch's `(out, in)` weight layout.
    fn from_torch(weight: &Tensor, bias: Tensor) -> CandleResult<Self> {
        Ok(Linear { weight_t: weight.t()?.contiguous()?, bias })
    }

    fn forward(&self, xs: &Tensor) -> CandleResult<Tensor> {
        xs.matmul(&self.weight_t)?.broadcast_add(&self.bias)
    }
}

/// One transformer layer.
#[derive(Debug)]
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
#[derive(Debug)]
pub(crate) struct Bert {
    /// `(vocab, hidden)`.
    word_embeddings: Tensor,
    /// `(max_positions, hidden)`: position embeddings plus the token-type-0 embedding.
    position_and_type: Tensor,
    embedding_norm: LayerNorm,
    layers: Vec<Layer>,
    hidden: usize,
    heads: usize,
    head_dim: usize,
    max_positions: usize,
    activation: Activation,
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

    fn layer_norm(&mut self, base: &str, width: usize, eps: f32) -> Result<LayerNorm, String> {
        let weight = self.take(&[&format!("{base}.weight"), &format!("{base}.gamma")], &[width])?;
        let bias = self.take(&[&format!("{base}.bias"), &format!("{base}.beta")], &[width])?;
        Ok(LayerNorm { weight, bias, eps })
    }

    fn weight_and_bias(&mut self, base: &str, out: usize, inp: usize) -> Result<(Tensor, Tensor), String> {
        let weight = self.take(&[&format!("{base}.weight")], &[out, inp])?;
        let bias = self.take(&[&format!("{base}.bias")], &[out])?;
        Ok((weight, bias))
    }

    fn linear(&mut self, base: &str, out: usize, inp: usize) -> Result<Linear, String> {
        let (weight, bias) = self.weight_and_bias(base, out, inp)?;
        Linear::from_torch(&weight, bias).map_err(|e| format!("preparing {base}: {e}"))
    }
}

impl Bert {
    /// Builds the encoder from the tensors of a safetensors file, checking every shape against
    /// `cfg`. The error is a human-readable reason.
    pub(crate) fn new(cfg: &BertConfig, tensors: HashMap<String, Tensor>) -> Result<Self, String> {
        cfg.validate()?;
        let (h, inter) = (cfg.hidden_size, cfg.intermediate_size);
        let heads = cfg.num_attention_heads;
        let head_dim = h / heads;
        let eps = cfg.layer_norm_eps as f32;
        let mut w = Weights::new(tensors)?;
        let prep = |what: &str, e: candle_core::Error| format!("preparing {what}: {e}");

        let word_embeddings = w.take(&["embeddings.word_embeddings.weight"], &[cfg.vocab_size, h])?;
        let positions = w.take(&["embeddings.position_embeddings.weight"], &[cfg.max_position_embeddings, h])?;
        let types = w.take(&["embeddings.token_type_embeddings.weight"], &[cfg.type_vocab_size, h])?;
        let position_and_type =
            types.get(0).and_then(|t0| positions.broadcast_add(&t0)).map_err(|e| prep("embeddings", e))?;
        let embedding_norm = w.layer_norm("embeddings.LayerNorm", h, eps)?;

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
                Linear::from_torch(&weight, bias)
            })()
            .map_err(|e| prep(&format!("{base}.attention"), e))?;
            layers.push(Layer {
                qkv,
                attention_out: w.linear(&format!("{base}.attention.output.dense"), h, h)?,
                attention_norm: w.layer_norm(&format!("{base}.attention.output.LayerNorm"), h, eps)?,
                intermediate: w.linear(&format!("{base}.intermediate.dense"), inter, h)?,
                output: w.linear(&format!("{base}.output.dense"), h, inter)?,
                output_norm: w.layer_norm(&format!("{base}.output.LayerNorm"), h, eps)?,
            });
        }
        if w.tensors.keys().any(|k| k.contains(&format!("encoder.layer.{}.", cfg.num_hidden_layers))) {
            return Err(format!("the weights have more layers than num_hidden_layers = {}", cfg.num_hidden_layers));
        }
        Ok(Bert {
            word_embeddings,
            position_and_type,
            embedding_norm,
            layers,
            hidden: h,
            heads,
            head_dim,
            max_positions: cfg.max_position_embeddings,
            activation: Activation::parse(&cfg.hidden_act)?,
        })
    }

    /// Width of the hidden states [`Bert::forward`] returns.
    pub(crate) fn hidden_size(&self) -> usize {
        self.hidden
    }

    /// Number of rows of the word-embedding table; token ids must be below it.
    pub(crate) fn vocab_size(&self) -> usize {
        self.word_embeddings.dims()[0]
    }

    /// Runs the encoder on a right-padded batch.
    ///
    /// `ids` holds `batch * seq` token ids row by row; `lens[b]` is the number of real tokens of
    /// row `b` (the rest is padding, masked out of attention). Returns the last hidden state as
    /// a contiguous `(batch * seq, hidden)` tensor.
    pub(crate) fn forward(&self, ids: &[u32], batch: usize, seq: usize, lens: &[usize]) -> CandleResult<Tensor> {
        if ids.len() != batch * seq || lens.len() != batch {
            candle_core::bail!("batch shape mismatch: {} ids, {batch}x{seq}, {} lengths", ids.len(), lens.len());
        }
        if seq > self.max_positions {
            candle_core::bail!("sequence of {seq} tokens exceeds the model's {} positions", self.max_positions);
        }
        let vocab = self.vocab_size();
        if let Some(bad) = ids.iter().find(|&&id| id as usize >= vocab) {
            candle_core::bail!("token id {bad} is outside the model's vocabulary of {vocab}");
        }
        let h = self.hidden;
        let device = Device::Cpu;
        let ids = Tensor::from_slice(ids, batch * seq, &device)?;
        let xs = self
            .word_embeddings
            .index_select(&ids, 0)?
            .reshape((batch, seq, h))?
            .broadcast_add(&self.position_and_type.narrow(0, 0, seq)?)?
            .reshape((batch * seq, h))?;
        let mut xs = self.embedding_norm.forward(&xs)?;

        // Additive mask, shaped (batch, 1, seq) to broadcast over (batch, heads * seq, seq)
        // attention scores. Omitted when nothing is padded.
        let mask = if lens.iter().all(|&l| l == seq) {
            None
        } else {
            let mut m = vec![0f32; batch * seq];
            for (row, &len) in m.chunks_exact_mut(seq).zip(lens) {
                row[len.min(seq)..].fill(f32::MIN);
            }
            Some(Tensor::from_vec(m, (batch, 1, seq), &device)?)
        };
        for layer in &self.layers {
            xs = self.layer_forward(layer, &xs, batch, seq, mask.as_ref())?;
        }
        Ok(xs)
    }

    fn layer_forward(
        &self,
        layer: &Layer,
        xs: &Tensor,
        batch: usize,
        seq: usize,
        mask: Option<&Tensor>,
    ) -> CandleResult<Tensor> {
        let (h, heads, dh) = (self.hidden, self.heads, self.head_dim);
        // (batch*seq, 3h) -> (3, batch, heads, seq, head_dim), one copy.
        let qkv = layer.qkv.forward(xs)?.reshape((batch, seq, 3, heads, dh))?.permute((2, 0, 3, 1, 4))?.contiguous()?;
        let (q, k, v) = (qkv.get(0)?, qkv.get(1)?, qkv.get(2)?);
        let scores = q.matmul(&k.t()?)?; // (batch, heads, seq, seq), already scaled
        let scores = match mask {
            Some(mask) => scores.reshape((batch, heads * seq, seq))?.broadcast_add(mask)?,
            None => scores,
        };
        let probs = candle_nn::ops::softmax_last_dim(&scores)?.reshape((batch, heads, seq, seq))?;
        let context = probs
            .matmul(&v)? // (batch, heads, seq, head_dim)
            .transpose(1, 2)?
            .contiguous()?
            .reshape((batch * seq, h))?;
        let attended = (layer.attention_out.forward(&context)? + xs)?;
        let attended = layer.attention_norm.forward(&attended)?;

        let inner = self.activation.apply(&layer.intermediate.forward(&attended)?)?;
        let out = (layer.output.forward(&inner)? + attended)?;
        layer.output_norm.forward(&out)
    }
}
