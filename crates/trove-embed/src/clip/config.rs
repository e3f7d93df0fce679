//! The fields of a Hugging Face `CLIPModel` `config.json` the CLIP towers use, with
//! transformers' defaults for the ones a file leaves out (those of ViT-B/32), the older
//! `text_config_dict` / `vision_config_dict` overriding `text_config` / `vision_config` as
//! transformers does, and the checks that say which value cannot be run and why.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::bert::parse_activation;
use crate::kernels::Activation;

/// The text tower's settings (`text_config`).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct TextConfig {
    /// Rows of the token-embedding table.
    #[serde(default = "text_vocab")]
    pub vocab_size: usize,
    /// Width of the hidden states.
    #[serde(default = "text_hidden")]
    pub hidden_size: usize,
    /// Width of the feed-forward layer.
    #[serde(default = "text_intermediate")]
    pub intermediate_size: usize,
    /// Transformer layers.
    #[serde(default = "twelve")]
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    #[serde(default = "text_heads")]
    pub num_attention_heads: usize,
    /// Positions: the most tokens of one input (77).
    #[serde(default = "text_positions")]
    pub max_position_embeddings: usize,
    /// Feed-forward activation.
    #[serde(default = "quick_gelu")]
    pub hidden_act: String,
    /// Epsilon of every LayerNorm.
    #[serde(default = "eps")]
    pub layer_norm_eps: f64,
    /// The end-of-text id; 2 marks the older configurations, pooled at the highest id.
    #[serde(default = "text_eos")]
    pub eos_token_id: EosId,
}

/// `eos_token_id`: one id, or a list of which the first is used.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum EosId {
    One(u32),
    Many(Vec<u32>),
}

impl EosId {
    pub(crate) fn first(&self) -> Option<u32> {
        match self {
            EosId::One(id) => Some(*id),
            EosId::Many(ids) => ids.first().copied(),
        }
    }
}

/// The vision tower's settings (`vision_config`).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct VisionConfig {
    /// Width of the hidden states.
    #[serde(default = "vision_hidden")]
    pub hidden_size: usize,
    /// Width of the feed-forward layer.
    #[serde(default = "vision_intermediate")]
    pub intermediate_size: usize,
    /// Transformer layers.
    #[serde(default = "twelve")]
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    #[serde(default = "twelve")]
    pub num_attention_heads: usize,
    /// Colour channels of the input (3).
    #[serde(default = "three")]
    pub num_channels: usize,
    /// Side of the (square) input image.
    #[serde(default = "image_size")]
    pub image_size: usize,
    /// Side of one patch.
    #[serde(default = "patch_size")]
    pub patch_size: usize,
    /// Feed-forward activation.
    #[serde(default = "quick_gelu")]
    pub hidden_act: String,
    /// Epsilon of every LayerNorm.
    #[serde(default = "eps")]
    pub layer_norm_eps: f64,
}

/// The whole model's settings.
#[derive(Debug, Clone)]
pub(crate) struct ClipConfig {
    pub text: TextConfig,
    pub vision: VisionConfig,
    /// Width of the shared embedding space.
    pub projection_dim: usize,
}

fn text_vocab() -> usize {
    49_408
}
fn text_hidden() -> usize {
    512
}
fn text_intermediate() -> usize {
    2048
}
fn text_heads() -> usize {
    8
}
fn text_positions() -> usize {
    77
}
fn text_eos() -> EosId {
    EosId::One(49_407)
}
fn vision_hidden() -> usize {
    768
}
fn vision_intermediate() -> usize {
    3072
}
fn twelve() -> usize {
    12
}
fn three() -> usize {
    3
}
fn image_size() -> usize {
    224
}
fn patch_size() -> usize {
    32
}
fn quick_gelu() -> String {
    "quick_gelu".to_string()
}
fn eps() -> f64 {
    1e-5
}

/// CLIP's activations: `quick_gelu` besides those of the BERT encoder.
pub(crate) fn activation(name: &str) -> Result<Activation, String> {
    match name {
        "quick_gelu" => Ok(Activation::QuickGelu),
        other => parse_activation(other),
    }
}

/// `base` with the keys of `overlay` put over it (both JSON objects, or absent).
fn merged(base: Option<&Value>, overlay: Option<&Value>, name: &str) -> Result<Value, String> {
    let mut out = Map::new();
    for part in [base, overlay].into_iter().flatten() {
        match part {
            Value::Object(map) => out.extend(map.clone()),
            Value::Null => {}
            other => return Err(format!("{name} is {other} where an object is expected")),
        }
    }
    Ok(Value::Object(out))
}

impl ClipConfig {
    /// Parses and checks the text of `config.json`.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, String> {
        let root: Value = serde_json::from_slice(bytes).map_err(|e| format!("not valid JSON: {e}"))?;
        let root = root.as_object().ok_or("not a JSON object")?;
        if let Some(kind) = root.get("model_type").and_then(Value::as_str)
            && kind != "clip"
        {
            return Err(format!("model_type is {kind:?}, not \"clip\" (a CLIPModel checkpoint is needed)"));
        }
        let text = merged(root.get("text_config"), root.get("text_config_dict"), "text_config")?;
        let vision = merged(root.get("vision_config"), root.get("vision_config_dict"), "vision_config")?;
        let text: TextConfig = serde_json::from_value(text).map_err(|e| format!("text_config: {e}"))?;
        let vision: VisionConfig = serde_json::from_value(vision).map_err(|e| format!("vision_config: {e}"))?;
        let projection_dim = match root.get("projection_dim") {
            None | Some(Value::Null) => 512,
            Some(v) => v.as_u64().ok_or_else(|| format!("projection_dim {v} is not a whole number"))? as usize,
        };
        let config = ClipConfig { text, vision, projection_dim };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        let (t, v) = (&self.text, &self.vision);
        let positive = [
            ("text_config.vocab_size", t.vocab_size),
            ("text_config.hidden_size", t.hidden_size),
            ("text_config.intermediate_size", t.intermediate_size),
            ("text_config.num_attention_heads", t.num_attention_heads),
            ("text_config.max_position_embeddings", t.max_position_embeddings),
            ("vision_config.hidden_size", v.hidden_size),
            ("vision_config.intermediate_size", v.intermediate_size),
            ("vision_config.num_attention_heads", v.num_attention_heads),
            ("vision_config.image_size", v.image_size),
            ("vision_config.patch_size", v.patch_size),
            ("projection_dim", self.projection_dim),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(format!("{name} must be positive"));
            }
        }
        for (name, hidden, heads) in [
            ("text_config", t.hidden_size, t.num_attention_heads),
            ("vision_config", v.hidden_size, v.num_attention_heads),
        ] {
            if !hidden.is_multiple_of(heads) {
                return Err(format!("{name}.hidden_size {hidden} is not a multiple of num_attention_heads {heads}"));
            }
        }
        if v.num_channels != 3 {
            return Err(format!("vision_config.num_channels is {}; only RGB (3) is supported", v.num_channels));
        }
        if !v.image_size.is_multiple_of(v.patch_size) {
            return Err(format!(
                "vision_config.image_size {} is not a multiple of patch_size {}",
                v.image_size, v.patch_size
            ));
        }
        if t.max_position_embeddings < 2 {
            return Err("text_config.max_position_embeddings must leave room for the two special tokens".into());
        }
        if t.eos_token_id.first().is_none() {
            return Err("text_config.eos_token_id is an empty list".into());
        }
        activation(&t.hidden_act).map_err(|e| format!("text_config: {e}"))?;
        activation(&v.hidden_act).map_err(|e| format!("vision_config: {e}"))?;
        for (name, eps) in [("text_config", t.layer_norm_eps), ("vision_config", v.layer_norm_eps)] {
            if !(eps.is_finite() && eps > 0.0) {
                return Err(format!("{name}.layer_norm_eps {eps} is not a positive number"));
            }
        }
        Ok(())
    }

    /// Patches per side of the input image.
    pub(crate) fn grid(&self) -> usize {
        self.vision.image_size / self.vision.patch_size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_vit_b_32_and_older_dicts_override() {
        let c = ClipConfig::parse(br#"{"model_type": "clip"}"#).unwrap();
        assert_eq!((c.text.hidden_size, c.vision.hidden_size, c.projection_dim, c.grid()), (512, 768, 512, 7));
        let c = ClipConfig::parse(
            br#"{"text_config": {"hidden_size": 64, "num_attention_heads": 4, "eos_token_id": 2},
                 "text_config_dict": {"hidden_size": 128}, "vision_config": null, "projection_dim": 32}"#,
        )
        .unwrap();
        assert_eq!((c.text.hidden_size, c.text.num_attention_heads, c.projection_dim), (128, 4, 32));
        assert_eq!(c.text.eos_token_id.first(), Some(2));
    }

    #[test]
    fn impossible_settings_are_named() {
        for (json, needle) in [
            (r#"{"model_type": "bert"}"#, "not \"clip\""),
            (r#"{"text_config": {"hidden_size": 30, "num_attention_heads": 8}}"#, "multiple of num_attention_heads"),
            (r#"{"vision_config": {"image_size": 200}}"#, "multiple of patch_size"),
            (r#"{"vision_config": {"hidden_act": "swish"}}"#, "vision_config: hidden_act"),
            (r#"{"projection_dim": 0}"#, "projection_dim must be positive"),
            (r#"[1]"#, "not a JSON object"),
        ] {
            let err = ClipConfig::parse(json.as_bytes()).unwrap_err();
            assert!(err.contains(needle), "{json}: {err}");
        }
    }
}
