//! CLIP (ViT-B/32 and its relatives) on the CPU: [`ClipModel`] embeds texts and images into one
//! space where a caption and its picture lie close together, as transformers' `CLIPModel`
//! does (`get_text_features` / `get_image_features`, then L2 normalisation).
//!
//! A model directory holds a Hugging Face `CLIPModel` checkpoint: `model.safetensors`
//! (`text_model.*`, `vision_model.*`, `text_projection.weight`, `visual_projection.weight`),
//! `config.json`, `vocab.json` + `merges.txt` (the BPE tokenizer) and, optionally,
//! `preprocessor_config.json` (CLIP's image settings are used without it). The parts:
//! - `config`: the sizes and activations read from `config.json`;
//! - `tokenizer`: CLIP's byte-level BPE tokenizer;
//! - `preprocess` and `resample`: image decoding and `CLIPImageProcessor`'s pixel values;
//! - `weights`: the safetensors tensors by their Hugging Face names;
//! - `tower`: the pre-LayerNorm transformer both towers run, on [`crate::kernels`].
//!
//! Text tower: token + position embeddings, causal blocks, final LayerNorm, the state at the
//! end-of-text token (the first `eos_token_id`; the highest id for older configurations whose
//! `eos_token_id` is 2, as transformers does), `text_projection`. Vision tower: the image cut
//! into patches (the patch convolution as one product), the class embedding in front, position
//! embeddings, `pre_layrnorm`, blocks, `post_layernorm` of the class token,
//! `visual_projection`.

mod config;
mod preprocess;
mod resample;
mod tokenizer;
mod tower;
mod weights;

use std::fmt;
use std::fs;
use std::path::Path;
use std::time::Instant;

use candle_core::Device;

use self::config::ClipConfig;
use self::preprocess::Preprocess;
use self::tokenizer::ClipTokenizer;
use self::tower::{Shape, Tower, layer_norm, project_normalized};
use crate::bert::{LayerNorm, Linear};
use crate::error::EmbedError;
use crate::kernels::Mask;
use crate::{Embedder, LocalOptions, Precision};

/// The weights file of a CLIP model directory.
pub const CLIP_WEIGHTS_FILE: &str = "model.safetensors";
/// The files a CLIP model directory must hold (`preprocessor_config.json` is optional).
pub const CLIP_REQUIRED_FILES: [&str; 4] = [CLIP_WEIGHTS_FILE, "config.json", "vocab.json", "merges.txt"];
/// Images per forward pass of the vision tower.
const IMAGE_BATCH: usize = 8;

/// The text tower.
struct TextTower {
    /// `(vocab, hidden)`.
    tokens: Vec<f32>,
    /// `(positions, hidden)`.
    positions: Vec<f32>,
    tower: Tower,
    final_norm: LayerNorm,
    projection: Linear,
    /// `None` for the older configurations (eos id 2), pooled at the highest id instead.
    eos: Option<u32>,
    eps: f64,
}

/// The vision tower.
struct VisionTower {
    /// `(3 · patch · patch, hidden)` product of the patch convolution (no bias).
    patch: Linear,
    /// `hidden`.
    class: Vec<f32>,
    /// `(patches + 1, hidden)`.
    positions: Vec<f32>,
    pre_norm: LayerNorm,
    tower: Tower,
    post_norm: LayerNorm,
    projection: Linear,
    patch_size: usize,
    /// Patches per side.
    grid: usize,
    eps: f64,
}

/// A CLIP model loaded from a Hugging Face `CLIPModel` directory, run on the CPU. Share it
/// behind an `Arc`; calls from several threads run on its own thread pool.
pub struct ClipModel {
    model_id: String,
    config: ClipConfig,
    tokenizer: ClipTokenizer,
    preprocess: Preprocess,
    text: TextTower,
    vision: VisionTower,
    pool: rayon::ThreadPool,
    batch_size: usize,
}

impl fmt::Debug for ClipModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClipModel")
            .field("model_id", &self.model_id)
            .field("dimension", &self.config.projection_dim)
            .field("text_hidden", &self.config.text.hidden_size)
            .field("vision_hidden", &self.config.vision.hidden_size)
            .field("image_size", &self.config.vision.image_size)
            .field("patch_size", &self.config.vision.patch_size)
            .field("threads", &self.pool.current_num_threads())
            .finish_non_exhaustive()
    }
}

impl ClipModel {
    /// Loads the model in `dir` with the default options (one thread per core, f32).
    pub fn load(dir: &Path) -> Result<Self, EmbedError> {
        Self::load_with(dir, &LocalOptions::default())
    }

    /// Loads the model in `dir`: `batch_size` texts per forward pass of the text tower,
    /// `threads` for both towers, `precision` for the towers' linear layers (the projections
    /// stay f32). Checks every tensor's presence and shape against `config.json`.
    ///
    /// Errors: [`EmbedError::ModelInvalid`] naming the file at fault and what is wrong.
    pub fn load_with(dir: &Path, opts: &LocalOptions) -> Result<Self, EmbedError> {
        let started = Instant::now();
        if !dir.is_dir() {
            return Err(EmbedError::invalid(
                dir,
                "the CLIP model directory does not exist (it holds the Hugging Face \
                 openai/clip-vit-base-patch32 files: model.safetensors, config.json, vocab.json, \
                 merges.txt, preprocessor_config.json)",
            ));
        }
        let missing: Vec<&str> = CLIP_REQUIRED_FILES.into_iter().filter(|f| !dir.join(f).is_file()).collect();
        if !missing.is_empty() {
            return Err(EmbedError::invalid(dir, format!("missing {}", missing.join(", "))));
        }
        let config_path = dir.join("config.json");
        let bytes =
            fs::read(&config_path).map_err(|e| EmbedError::invalid(&config_path, format!("cannot read: {e}")))?;
        let config = ClipConfig::parse(&bytes).map_err(|reason| EmbedError::invalid(&config_path, reason))?;
        let tokenizer = ClipTokenizer::load(dir, config.text.max_position_embeddings)?;
        let preprocess = Preprocess::load(&dir.join("preprocessor_config.json"))?;
        let image = config.vision.image_size;
        if preprocess.crop() != (image, image) {
            let (h, w) = preprocess.crop();
            return Err(EmbedError::invalid(
                dir.join("preprocessor_config.json"),
                format!("crop_size {w}x{h} does not match the model's image_size {image}"),
            ));
        }

        let weights_path = dir.join(CLIP_WEIGHTS_FILE);
        let bytes =
            fs::read(&weights_path).map_err(|e| EmbedError::invalid(&weights_path, format!("cannot read: {e}")))?;
        let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)
            .map_err(|e| EmbedError::invalid(&weights_path, format!("not a readable safetensors file: {e}")))?;
        drop(bytes);
        let (text, vision) = load_towers(&config, tensors, opts.precision)
            .map_err(|reason| EmbedError::invalid(&weights_path, reason))?;
        if tokenizer.eos() as usize >= config.text.vocab_size {
            return Err(EmbedError::invalid(
                dir.join("vocab.json"),
                format!("the vocabulary's ids go past the model's vocab_size {}", config.text.vocab_size),
            ));
        }

        let pool = crate::parallel::model_pool(opts.threads, "trove-clip")?;
        let threads = pool.current_num_threads();
        tracing::debug!(dir = %dir.display(), threads, elapsed_ms = started.elapsed().as_millis() as u64, "loaded CLIP model");
        Ok(ClipModel {
            model_id: format!("clip/{}", dir.file_name().map_or_else(|| "model".into(), |n| n.to_string_lossy())),
            config,
            tokenizer,
            preprocess,
            text,
            vision,
            pool,
            batch_size: opts.batch_size.max(1),
        })
    }

    /// Replaces the id reported by [`ClipModel::model_id`] (by default `clip/` and the
    /// directory's name).
    pub fn with_model_id(mut self, id: impl Into<String>) -> Self {
        self.model_id = id.into();
        self
    }

    /// The id vectors of this model are recorded under.
    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    /// Length of every vector (`projection_dim`, 512 for ViT-B/32).
    pub fn dimension(&self) -> usize {
        self.config.projection_dim
    }

    /// The most tokens of one text, with the two special tokens (77); longer texts are cut.
    pub fn max_input_tokens(&self) -> usize {
        self.config.text.max_position_embeddings
    }

    /// Tokens of `text` without the special tokens and without truncation.
    pub fn count_tokens(&self, text: &str) -> usize {
        self.tokenizer.count(text)
    }

    /// The token ids `text` is embedded with (`<|startoftext|>` … `<|endoftext|>`, truncated).
    pub fn token_ids(&self, text: &str) -> Vec<u32> {
        self.tokenizer.encode(text)
    }

    /// The threads the towers run on.
    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    /// L2-normalised embeddings of `texts`, one per input, in input order; texts longer than
    /// [`ClipModel::max_input_tokens`] are truncated.
    pub fn embed_texts(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        self.pool.install(|| {
            let ids: Vec<Vec<u32>> = texts.iter().map(|t| self.tokenizer.encode(t)).collect();
            let mut order: Vec<usize> = (0..texts.len()).collect();
            order.sort_by_key(|&i| std::cmp::Reverse(ids[i].len()));
            let mut out = vec![Vec::new(); texts.len()];
            for chunk in order.chunks(self.batch_size) {
                let seqs: Vec<&[u32]> = chunk.iter().map(|&i| ids[i].as_slice()).collect();
                for (&i, v) in chunk.iter().zip(self.text.embed(&seqs, rayon::current_num_threads())) {
                    out[i] = v;
                }
            }
            Ok(out)
        })
    }

    /// L2-normalised embeddings of encoded images (png, jpeg, webp, gif, tiff or bmp bytes),
    /// one per input, in input order, with their EXIF orientation applied.
    ///
    /// Errors: [`EmbedError::Image`] for the first image that cannot be read (its index, and
    /// whether it is of an unsupported format, damaged, or of a refused size); nothing is
    /// embedded then.
    pub fn embed_images(&self, images: &[&[u8]]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if images.is_empty() {
            return Ok(Vec::new());
        }
        self.pool.install(|| {
            let threads = rayon::current_num_threads();
            let mut out = Vec::with_capacity(images.len());
            for (b, chunk) in images.chunks(IMAGE_BATCH).enumerate() {
                let pixels = self.preprocess_batch(chunk, b * IMAGE_BATCH)?;
                let refs: Vec<&[f32]> = pixels.iter().map(Vec::as_slice).collect();
                out.extend(self.vision.embed(&refs, threads));
            }
            Ok(out)
        })
    }

    /// CLIP's pixel values of one encoded image: 3 × image_size × image_size, channel-major,
    /// as `CLIPImageProcessor` makes them (after the EXIF orientation is applied).
    pub fn pixel_values(&self, image: &[u8]) -> Result<Vec<f32>, EmbedError> {
        self.preprocess.pixels(image, 0)
    }

    /// L2-normalised embeddings of images given as pixel values (each as
    /// [`ClipModel::pixel_values`] makes them). Errors when one has the wrong length.
    pub fn embed_pixel_values(&self, pixels: &[&[f32]]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let want = 3 * self.config.vision.image_size * self.config.vision.image_size;
        if let Some((i, p)) = pixels.iter().enumerate().find(|(_, p)| p.len() != want) {
            return Err(EmbedError::Embedding(format!(
                "pixel values {i} hold {} numbers; the model takes 3 x {size} x {size} = {want}",
                p.len(),
                size = self.config.vision.image_size
            )));
        }
        Ok(self.pool.install(|| {
            let threads = rayon::current_num_threads();
            pixels.chunks(IMAGE_BATCH).flat_map(|chunk| self.vision.embed(chunk, threads)).collect()
        }))
    }

    /// Decodes and preprocesses `images` on the pool's threads; `first` is the index of the
    /// first of them in the call (for errors, which name the first image at fault).
    fn preprocess_batch(&self, images: &[&[u8]], first: usize) -> Result<Vec<Vec<f32>>, EmbedError> {
        use rayon::prelude::*;
        let results: Vec<Result<Vec<f32>, EmbedError>> =
            images.par_iter().enumerate().map(|(i, bytes)| self.preprocess.pixels(bytes, first + i)).collect();
        results.into_iter().collect()
    }
}

/// Builds both towers from the checkpoint's tensors.
fn load_towers(
    config: &ClipConfig,
    tensors: std::collections::HashMap<String, candle_core::Tensor>,
    precision: Precision,
) -> Result<(TextTower, VisionTower), String> {
    let mut w = weights::open(tensors)?;
    let (t, v, proj) = (&config.text, &config.vision, config.projection_dim);

    let th = t.hidden_size;
    let text = TextTower {
        tokens: weights::take_vec(&mut w, "text_model.embeddings.token_embedding.weight", &[t.vocab_size, th])?,
        positions: weights::take_vec(
            &mut w,
            "text_model.embeddings.position_embedding.weight",
            &[t.max_position_embeddings, th],
        )?,
        tower: Tower::load(
            &mut w,
            "text_model",
            Shape {
                hidden: th,
                heads: t.num_attention_heads,
                intermediate: t.intermediate_size,
                layers: t.num_hidden_layers,
            },
            (t.layer_norm_eps, config::activation(&t.hidden_act)?, Mask::Causal),
            precision,
        )?,
        final_norm: w.layer_norm("text_model.final_layer_norm", th)?,
        projection: weights::projection(&mut w, "text_projection.weight", proj, th)?,
        eos: t.eos_token_id.first().filter(|&id| id != 2),
        eps: t.layer_norm_eps,
    };

    let (vh, p, grid) = (v.hidden_size, v.patch_size, config.grid());
    let name = "vision_model.embeddings.patch_embedding.weight";
    let patch = w.take(&[name], &[vh, 3, p, p])?;
    let patch =
        weights::bias_free(&patch.reshape((vh, 3 * p * p)).map_err(|e| format!("preparing {name}: {e}"))?, name)?;
    let vision = VisionTower {
        patch,
        class: weights::take_vec(&mut w, "vision_model.embeddings.class_embedding", &[vh])?,
        positions: weights::take_vec(
            &mut w,
            "vision_model.embeddings.position_embedding.weight",
            &[grid * grid + 1, vh],
        )?,
        pre_norm: w.layer_norm("vision_model.pre_layrnorm", vh)?,
        tower: Tower::load(
            &mut w,
            "vision_model",
            Shape {
                hidden: vh,
                heads: v.num_attention_heads,
                intermediate: v.intermediate_size,
                layers: v.num_hidden_layers,
            },
            (v.layer_norm_eps, config::activation(&v.hidden_act)?, Mask::None),
            precision,
        )?,
        post_norm: w.layer_norm("vision_model.post_layernorm", vh)?,
        projection: weights::projection(&mut w, "visual_projection.weight", proj, vh)?,
        patch_size: p,
        grid,
        eps: v.layer_norm_eps,
    };
    Ok((text, vision))
}

impl TextTower {
    /// Embeddings of token sequences (each framed by the special tokens).
    fn embed(&self, seqs: &[&[u32]], threads: usize) -> Vec<Vec<f32>> {
        let h = self.final_norm.gamma.len();
        let lens: Vec<usize> = seqs.iter().map(|s| s.len()).collect();
        let rows: usize = lens.iter().sum();
        let mut xs = vec![0f32; rows * h];
        for (row, (pos, &id)) in xs.chunks_exact_mut(h).zip(seqs.iter().flat_map(|s| s.iter().enumerate())) {
            let token = &self.tokens[id as usize * h..][..h];
            let place = &self.positions[pos * h..][..h];
            for ((x, t), p) in row.iter_mut().zip(token).zip(place) {
                *x = t + p;
            }
        }
        self.tower.forward(&mut xs, &lens, threads);
        // The state at the end-of-text token of each sequence (LayerNorm is per row, so only
        // those rows are normalised).
        let mut pooled = Vec::with_capacity(seqs.len() * h);
        let mut start = 0;
        for seq in seqs {
            let at = match self.eos {
                Some(eos) => seq.iter().position(|&id| id == eos).unwrap_or(seq.len() - 1),
                // argmax: the first of the highest ids.
                None => seq.iter().enumerate().rev().max_by_key(|&(_, id)| *id).map_or(0, |(i, _)| i),
            };
            pooled.extend_from_slice(&xs[(start + at) * h..][..h]);
            start += seq.len();
        }
        layer_norm(&mut pooled, &self.final_norm, self.eps);
        project_normalized(&self.projection, &pooled, seqs.len())
    }
}

impl VisionTower {
    /// Embeddings of images given as pixel values.
    fn embed(&self, images: &[&[f32]], threads: usize) -> Vec<Vec<f32>> {
        let h = self.class.len();
        let (p, grid) = (self.patch_size, self.grid);
        let side = p * grid;
        let patches = grid * grid;
        let seq = patches + 1;
        // The patch convolution as one product: each patch's pixels, channel by channel, row
        // by row, in the layout of the convolution's weight.
        let width = 3 * p * p;
        let mut cut = vec![0f32; images.len() * patches * width];
        for (img, out) in images.iter().zip(cut.chunks_exact_mut(patches * width)) {
            for (n, patch) in out.chunks_exact_mut(width).enumerate() {
                let (py, px) = (n / grid, n % grid);
                for c in 0..3 {
                    for ky in 0..p {
                        let src = &img[c * side * side + (py * p + ky) * side + px * p..][..p];
                        patch[(c * p + ky) * p..][..p].copy_from_slice(src);
                    }
                }
            }
        }
        let mut embedded = vec![0f32; images.len() * patches * h];
        self.patch.matmul_then(
            &mut embedded,
            &cut,
            images.len() * patches,
            false,
            crate::kernels::Threads(threads.max(1)),
            crate::kernels::Hooks::default(),
        );
        let mut xs = vec![0f32; images.len() * seq * h];
        for (i, rows) in xs.chunks_exact_mut(seq * h).enumerate() {
            let (class, rest) = rows.split_at_mut(h);
            class.copy_from_slice(&self.class);
            rest.copy_from_slice(&embedded[i * patches * h..][..patches * h]);
            for (x, pos) in rows.iter_mut().zip(&self.positions) {
                *x += pos;
            }
        }
        layer_norm(&mut xs, &self.pre_norm, self.eps);
        let lens = vec![seq; images.len()];
        self.tower.forward(&mut xs, &lens, threads);
        let mut pooled: Vec<f32> = xs.chunks_exact(seq * h).flat_map(|rows| rows[..h].iter().copied()).collect();
        layer_norm(&mut pooled, &self.post_norm, self.eps);
        project_normalized(&self.projection, &pooled, images.len())
    }
}

/// CLIP's text tower as an [`Embedder`]: texts embedded into the space images share.
impl Embedder for ClipModel {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dimension(&self) -> usize {
        self.config.projection_dim
    }

    fn max_input_tokens(&self) -> usize {
        self.config.text.max_position_embeddings
    }

    fn count_tokens(&self, text: &str) -> usize {
        self.tokenizer.count(text)
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.embed_texts(texts)
    }
}
