//! The tensors of a CLIP safetensors file, taken by their Hugging Face names (`text_model.*`,
//! `vision_model.*`, `text_projection.weight`, `visual_projection.weight`; a `clip.` or
//! `model.` prefix is accepted) through the BERT encoder's [`Weights`]: each checked against
//! the shape `config.json` implies and converted to f32 (checkpoints in f16 or bf16 load the
//! same way). Adds what CLIP needs besides: flat vectors, bias-free projections, and the check
//! that the checkpoint has no more layers than the configuration says.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};

use crate::Precision;
use crate::bert::{Linear, Weights};

/// The tensors of a CLIP checkpoint, their prefix found.
pub(crate) fn open(tensors: HashMap<String, Tensor>) -> Result<Weights, String> {
    const PROBE: &str = "text_model.embeddings.token_embedding.weight";
    Weights::with_prefix(tensors, PROBE, &["", "clip.", "model."], |first| {
        format!(
            "no CLIP text embeddings ({PROBE}) among the tensors; a Hugging Face CLIPModel \
             checkpoint is needed (first names: {first})"
        )
    })
}

/// Takes tensor `name` as a flat vector of f32.
pub(crate) fn take_vec(w: &mut Weights, name: &str, shape: &[usize]) -> Result<Vec<f32>, String> {
    let tensor = w.take(&[name], shape)?;
    tensor.flatten_all().and_then(|t| t.to_vec1::<f32>()).map_err(|e| format!("preparing {name}: {e}"))
}

/// The f32 linear layer without bias whose PyTorch weight is `weight`, of shape `(out, in)`.
pub(crate) fn bias_free(weight: &Tensor, what: &str) -> Result<Linear, String> {
    let prep = |e: candle_core::Error| format!("preparing {what}: {e}");
    let (out, _) = weight.dims2().map_err(prep)?;
    let bias = Tensor::zeros(out, DType::F32, &Device::Cpu).map_err(prep)?;
    Linear::from_torch(weight, &bias, Precision::F32).map_err(prep)
}

/// The bias-free projection `name`, of shape `(out, in)`.
pub(crate) fn projection(w: &mut Weights, name: &str, out: usize, inp: usize) -> Result<Linear, String> {
    bias_free(&w.take(&[name], &[out, inp])?, name)
}

/// Fails when tensors of layers past `layers` exist under `base` (a configuration that says
/// fewer layers than the weights have).
pub(crate) fn no_layer_beyond(w: &Weights, base: &str, layers: usize) -> Result<(), String> {
    if w.any_left_starting(&format!("{base}.encoder.layers.{layers}.")) {
        return Err(format!("the weights of {base} have more layers than num_hidden_layers = {layers}"));
    }
    Ok(())
}
