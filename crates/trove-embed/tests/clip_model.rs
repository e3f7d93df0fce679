//! CLIP parity: Trove's CLIP against transformers' `CLIPModel`, `CLIPTokenizer` and
//! `CLIPImageProcessor` on the small random-weight CLIP of `fixtures/clip/` (real layer names,
//! quick_gelu, 2 layers per tower, 224-pixel images in 16-pixel patches), made with its
//! reference outputs by `fixtures/gen_clip_reference.py`. Token ids must be equal, pixel values
//! within 1e-4, and every embedding within a cosine of 0.99999.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use base64::Engine;
use serde::Deserialize;
use trove_embed::{ClipModel, EmbedError, Embedder, ImageFault, LocalOptions};
use trove_types::error::{Code, HasCode};

#[derive(Deserialize)]
struct Reference {
    image_mean: [f32; 3],
    image_std: [f32; 3],
    texts: Vec<RefText>,
    images: Vec<RefImage>,
}

#[derive(Deserialize)]
struct RefText {
    text: String,
    ids: Vec<u32>,
    embedding: Vec<f32>,
}

#[derive(Deserialize)]
struct RefImage {
    file: String,
    what: String,
    /// The 8-bit crop (3 × 224 × 224, channel-major), zlib + base64, when small enough.
    levels_zlib_b64: Option<String>,
    sample_at: Vec<usize>,
    sample: Vec<f32>,
    embedding: Vec<f32>,
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/clip")
}

fn reference() -> &'static Reference {
    static R: OnceLock<Reference> = OnceLock::new();
    R.get_or_init(|| {
        let bytes = std::fs::read(fixtures().join("reference.json")).expect("reference.json is readable");
        serde_json::from_slice(&bytes).expect("reference.json is valid")
    })
}

fn model() -> &'static ClipModel {
    static M: OnceLock<ClipModel> = OnceLock::new();
    M.get_or_init(|| {
        let opts = LocalOptions { threads: 2, batch_size: 4, ..LocalOptions::default() };
        ClipModel::load_with(&fixtures(), &opts).unwrap_or_else(|e| panic!("loading the fixture CLIP failed: {e}"))
    })
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

/// The lowest cosine between `got[i]` and `want[i]`.
fn lowest_cosine(got: &[Vec<f32>], want: &[&[f32]]) -> f32 {
    assert_eq!(got.len(), want.len());
    got.iter().zip(want).map(|(g, w)| cosine(g, w)).fold(1f32, f32::min)
}

fn image_bytes(file: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

#[test]
fn token_ids_equal_clip_tokenizer() {
    let m = model();
    for t in &reference().texts {
        assert_eq!(m.token_ids(&t.text), t.ids, "{:?}", t.text);
    }
    assert_eq!(m.max_input_tokens(), 77);
}

#[test]
fn text_embeddings_match_transformers() {
    let m = model();
    let texts: Vec<&str> = reference().texts.iter().map(|t| t.text.as_str()).collect();
    // All at once (batched by length) and one by one give the reference vectors.
    let together = m.embed_texts(&texts).unwrap();
    for (t, got) in reference().texts.iter().zip(&together) {
        assert_eq!(got.len(), m.dimension());
        let c = cosine(got, &t.embedding);
        assert!(c >= 0.99999, "{:?}: cosine {c}", t.text);
        let alone = m.embed_texts(&[&t.text]).unwrap();
        assert!(cosine(&alone[0], got) >= 0.99999, "{:?} alone differs", t.text);
    }
    // Through the Embedder trait as well.
    assert_eq!(Embedder::embed(m, &texts[..2]).unwrap(), together[..2]);
}

#[test]
fn pixel_values_match_clip_image_processor() {
    let m = model();
    let r = reference();
    for img in &r.images {
        let got = m.pixel_values(&image_bytes(&img.file)).unwrap_or_else(|e| panic!("{}: {e}", img.file));
        assert_eq!(got.len(), 3 * 224 * 224, "{}", img.file);
        // JPEG decoders differ in their IDCT and chroma upsampling: the `image` crate's
        // decoder and Pillow's libjpeg-turbo give pixels up to 3 levels apart (the vectors
        // still agree, see `image_embeddings_match_transformers`). Every other format decodes
        // to the same pixels, so the rest of the pipeline is held to 1e-4.
        let jpeg = img.file.ends_with(".jpg");
        let tolerance = if jpeg { 4.0 / 255.0 / 0.26 } else { 1e-4 };
        for (&at, &want) in img.sample_at.iter().zip(&img.sample) {
            let diff = (got[at] - want).abs();
            assert!(diff < tolerance, "{} ({}): value {at} is {} not {want}", img.file, img.what, got[at]);
        }
        let Some(packed) = &img.levels_zlib_b64 else { continue };
        let zipped = base64::engine::general_purpose::STANDARD.decode(packed).unwrap();
        let mut levels = Vec::new();
        flate2::read::ZlibDecoder::new(zipped.as_slice()).read_to_end(&mut levels).unwrap();
        assert_eq!(levels.len(), got.len());
        let plane = 224 * 224;
        let worst = levels
            .iter()
            .enumerate()
            .map(|(i, &l)| {
                let c = i / plane;
                let want = ((f64::from(l) / 255.0) as f32 - r.image_mean[c]) / r.image_std[c];
                (got[i] - want).abs()
            })
            .fold(0f32, f32::max);
        assert!(worst < 1e-4, "{} ({}): pixel values differ by up to {worst}", img.file, img.what);
    }
}

#[test]
fn image_embeddings_match_transformers() {
    let m = model();
    let r = reference();
    let bytes: Vec<Vec<u8>> = r.images.iter().map(|i| image_bytes(&i.file)).collect();
    let refs: Vec<&[u8]> = bytes.iter().map(Vec::as_slice).collect();
    // More images than one batch of the vision tower.
    assert!(refs.len() > 8);
    let got = m.embed_images(&refs).unwrap();
    assert_eq!(got.len(), refs.len());
    for (img, v) in r.images.iter().zip(&got) {
        assert_eq!(v.len(), m.dimension());
        let c = cosine(v, &img.embedding);
        assert!(c >= 0.99999, "{} ({}): cosine {c}", img.file, img.what);
    }
    // The EXIF orientation matters: the rotated photo is not the unrotated one.
    let find = |f: &str| r.images.iter().position(|i| i.file == f).unwrap();
    let (rotated, plain) = (find("photo_exif6.png"), find("photo.jpg"));
    assert!(cosine(&got[rotated], &got[plain]) < 0.999, "EXIF orientation made no difference");
    // Pixel values in, the same vectors out.
    let pixels = m.pixel_values(&bytes[0]).unwrap();
    let direct = m.embed_pixel_values(&[&pixels]).unwrap();
    assert!(cosine(&direct[0], &got[0]) >= 0.99999);
}

/// Copies the fixture model into a temporary directory, with `edit` applied to config.json.
fn edited_copy(edit: impl Fn(&mut serde_json::Value)) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in ["model.safetensors", "vocab.json", "merges.txt", "preprocessor_config.json"] {
        std::fs::copy(fixtures().join(f), dir.path().join(f)).unwrap();
    }
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixtures().join("config.json")).unwrap()).unwrap();
    edit(&mut config);
    std::fs::write(dir.path().join("config.json"), serde_json::to_vec(&config).unwrap()).unwrap();
    dir
}

fn load(dir: &Path) -> Result<ClipModel, EmbedError> {
    ClipModel::load_with(dir, &LocalOptions { threads: 1, ..LocalOptions::default() })
}

#[test]
fn the_activation_is_the_configured_one() {
    // The same weights run with exact GELU instead of quick_gelu fall below the parity
    // threshold (measured: lowest cosine 0.99991 among the texts, against
    // about 1e-7 of rounding): the parity tests catch a CLIP run with the wrong activation.
    let dir = edited_copy(|c| {
        c["text_config"]["hidden_act"] = "gelu".into();
        c["vision_config"]["hidden_act"] = "gelu".into();
    });
    let gelu = load(dir.path()).unwrap();
    let r = reference();
    let texts: Vec<&str> = r.texts.iter().map(|t| t.text.as_str()).collect();
    let want: Vec<&[f32]> = r.texts.iter().map(|t| t.embedding.as_slice()).collect();
    let worst_text = lowest_cosine(&gelu.embed_texts(&texts).unwrap(), &want);
    assert!(worst_text < 0.99999, "texts with gelu: lowest cosine {worst_text}");
    let bytes: Vec<Vec<u8>> = r.images.iter().map(|i| image_bytes(&i.file)).collect();
    let refs: Vec<&[u8]> = bytes.iter().map(Vec::as_slice).collect();
    let want: Vec<&[f32]> = r.images.iter().map(|i| i.embedding.as_slice()).collect();
    let worst_image = lowest_cosine(&gelu.embed_images(&refs).unwrap(), &want);
    assert!(worst_image < 0.99999, "images with gelu: lowest cosine {worst_image}");
}

#[test]
fn older_configs_pool_at_the_highest_id() {
    // eos_token_id 2 marks the configurations from before transformers' PR 24773 (the real
    // openai/clip-vit-base-patch32 has it): pooled at the highest id, which is the end-of-text
    // token for ordinary text, so the vectors are the same.
    let dir = edited_copy(|c| c["text_config"]["eos_token_id"] = 2.into());
    let old = load(dir.path()).unwrap();
    let t = &reference().texts[0];
    assert!(cosine(&old.embed_texts(&[&t.text]).unwrap()[0], &t.embedding) >= 0.99999);
}

#[test]
fn bad_images_fail_alone_with_typed_errors() {
    let m = model();
    let good = image_bytes("solid.png");
    let mut cut = image_bytes("gradient.png");
    cut.truncate(cut.len() / 2);
    let err = m.embed_images(&[&good, &cut]).unwrap_err();
    match &err {
        EmbedError::Image { index: 1, kind: ImageFault::Corrupt, .. } => {}
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(err.code(), Code::DocumentUnreadable);
    let err = m.embed_images(&[b"%PDF-1.7 not an image"]).unwrap_err();
    assert!(matches!(err, EmbedError::Image { index: 0, kind: ImageFault::Unsupported, .. }), "{err:?}");
    assert_eq!(err.code(), Code::UnsupportedMediaType);
    assert!(err.to_string().contains("png, jpeg, webp, gif, tiff and bmp"), "{err}");
    assert!(m.embed_images(&[]).unwrap().is_empty());
    let err = m.embed_pixel_values(&[&[0.0; 10]]).unwrap_err();
    assert!(err.to_string().contains("3 x 224 x 224"), "{err}");
}

#[test]
fn broken_model_directories_are_explained() {
    let err = load(Path::new("/nonexistent/clip")).unwrap_err();
    assert!(err.to_string().contains("openai/clip-vit-base-patch32"), "{err}");
    let dir = edited_copy(|c| c["vision_config"]["patch_size"] = 32.into());
    let err = load(dir.path()).unwrap_err();
    assert!(err.to_string().contains("patch_embedding.weight has shape"), "{err}");
    let dir = edited_copy(|c| c["text_config"]["num_hidden_layers"] = 1.into());
    let err = load(dir.path()).unwrap_err();
    assert!(err.to_string().contains("more layers than num_hidden_layers = 1"), "{err}");
    std::fs::remove_file(dir.path().join("merges.txt")).unwrap();
    let err = load(dir.path()).unwrap_err();
    assert!(err.to_string().contains("missing merges.txt"), "{err}");
}
