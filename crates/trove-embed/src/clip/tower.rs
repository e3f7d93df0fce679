//! CLIP's transformer encoder, shared by the text and the vision tower: pre-LayerNorm blocks
//! (`x += out_proj(attention(layer_norm1(x)))`, then `x += fc2(act(fc1(layer_norm2(x))))`),
//! with causal attention for text and full attention for images, on the BERT encoder's
//! kernels: the query, key and value projections fused into one product with the
//! `1/sqrt(head_dim)` scale folded into the query part, sequences packed without padding,
//! every product cut into tiles the threads take as they free up, and bias, activation and
//! residual applied on each tile as it is finished.

use super::weights::no_layer_beyond;
use crate::Precision;
use crate::bert::{LayerNorm, Linear, Weights};
use crate::kernels::{self, Activation, Hooks, Mask, Threads};

/// One pre-LayerNorm block.
struct Block {
    norm1: LayerNorm,
    /// `q_proj`, `k_proj`, `v_proj` fused: `(hidden, 3 · hidden)`, query part pre-scaled.
    qkv: Linear,
    out: Linear,
    norm2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
}

/// The sizes of a tower.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    pub hidden: usize,
    pub heads: usize,
    pub intermediate: usize,
    pub layers: usize,
}

/// An encoder of `layers` blocks.
pub(crate) struct Tower {
    blocks: Vec<Block>,
    shape: Shape,
    eps: f32,
    activation: Activation,
    mask: Mask,
}

/// Buffers of one forward pass.
#[derive(Default)]
struct Scratch {
    normed: Vec<f32>,
    qkv: Vec<f32>,
    context: Vec<f32>,
    inner: Vec<f32>,
}

/// Makes `buf` exactly `len` long, reusing its allocation.
fn sized(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
    buf.resize(len, 0.0);
    &mut buf[..len]
}

impl Tower {
    /// Loads the blocks `{base}.encoder.layers.{i}` from `w`.
    pub(crate) fn load(
        w: &mut Weights,
        base: &str,
        shape: Shape,
        (eps, activation, mask): (f64, Activation, Mask),
        precision: Precision,
    ) -> Result<Self, String> {
        let Shape { hidden: h, heads, intermediate: inter, layers } = shape;
        let scale = 1.0 / ((h / heads) as f64).sqrt();
        let mut blocks = Vec::with_capacity(layers);
        for i in 0..layers {
            let at = format!("{base}.encoder.layers.{i}");
            let names = ["q_proj", "k_proj", "v_proj"].map(|n| format!("{at}.self_attn.{n}"));
            let qkv = w.fused_qkv(&names, h, scale, precision)?;
            blocks.push(Block {
                norm1: w.layer_norm(&format!("{at}.layer_norm1"), h)?,
                qkv,
                out: w.linear(&format!("{at}.self_attn.out_proj"), h, h, precision)?,
                norm2: w.layer_norm(&format!("{at}.layer_norm2"), h)?,
                fc1: w.linear(&format!("{at}.mlp.fc1"), inter, h, precision)?,
                fc2: w.linear(&format!("{at}.mlp.fc2"), h, inter, precision)?,
            });
        }
        no_layer_beyond(w, base, layers)?;
        Ok(Tower { blocks, shape, eps: eps as f32, activation, mask })
    }

    /// Runs every block on the packed rows `xs` (`hidden` wide), sequences of `lens` one after
    /// another, on up to `threads` threads of the current rayon pool.
    pub(crate) fn forward(&self, xs: &mut [f32], lens: &[usize], threads: usize) {
        let rows: usize = lens.iter().sum();
        if rows == 0 {
            return;
        }
        let Shape { hidden: h, heads, intermediate: inter, .. } = self.shape;
        let threads = Threads(threads.max(1));
        let mut scratch = Scratch::default();
        for block in &self.blocks {
            // x += out_proj(attention(layer_norm1(x)))
            let normed = normed_copy(&mut scratch.normed, xs, &block.norm1, self.eps);
            let qkv = sized(&mut scratch.qkv, rows * 3 * h);
            block.qkv.matmul_then(qkv, normed, rows, false, threads, bias_hooks(&add_bias_of(&block.qkv)));
            let context = sized(&mut scratch.context, rows * h);
            kernels::attention_masked(qkv, context, lens, (h, heads), self.mask, threads, None);
            block.out.matmul_then(xs, context, rows, true, threads, bias_hooks(&add_bias_of(&block.out)));

            // x += fc2(act(fc1(layer_norm2(x))))
            let normed = normed_copy(&mut scratch.normed, xs, &block.norm2, self.eps);
            let inner = sized(&mut scratch.inner, rows * inter);
            let activate = |_: usize, c0: usize, row: &mut [f32]| {
                kernels::bias_activation(row, &block.fc1.bias[c0..][..row.len()], self.activation)
            };
            block.fc1.matmul_then(inner, normed, rows, false, threads, bias_hooks(&activate));
            block.fc2.matmul_then(xs, inner, rows, true, threads, bias_hooks(&add_bias_of(&block.fc2)));
        }
    }
}

/// The hook that adds `linear`'s bias to each finished tile row.
fn add_bias_of(linear: &Linear) -> impl Fn(usize, usize, &mut [f32]) + Sync + '_ {
    move |_, c0, row| kernels::add_bias(row, &linear.bias[c0..][..row.len()])
}

/// Hooks running `tile_row` on every finished tile row.
fn bias_hooks<'f>(tile_row: &'f (dyn Fn(usize, usize, &mut [f32]) + Sync + 'f)) -> Hooks<'f> {
    Hooks { tile_row: Some(tile_row), ..Hooks::default() }
}

/// `xs` copied into `buf` and LayerNormed there (the residual stream stays as it is).
fn normed_copy<'b>(buf: &'b mut Vec<f32>, xs: &[f32], norm: &LayerNorm, eps: f32) -> &'b mut [f32] {
    let normed = sized(buf, xs.len());
    normed.copy_from_slice(xs);
    kernels::bias_layer_norm(normed, None, &norm.gamma, &norm.beta, eps);
    normed
}

/// `rows` (each `width` wide) LayerNormed in place.
pub(crate) fn layer_norm(rows: &mut [f32], norm: &LayerNorm, eps: f64) {
    kernels::bias_layer_norm(rows, None, &norm.gamma, &norm.beta, eps as f32);
}

/// `xs · W` of a bias-free projection, each output row scaled to unit L2 norm.
pub(crate) fn project_normalized(projection: &Linear, xs: &[f32], rows: usize) -> Vec<Vec<f32>> {
    let width = projection.bias.len();
    let mut out = vec![0f32; rows * width];
    projection.matmul_then(&mut out, xs, rows, false, Threads(1), Hooks::default());
    out.chunks_exact(width)
        .map(|row| {
            let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
            row.iter().map(|v| v / norm).collect()
        })
        .collect()
}
