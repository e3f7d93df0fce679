//! Trove's CLIP image embedding beside PyTorch (transformers' `CLIPModel`), on the same
//! generated model and the same images, in one run.
//!
//! No CLIP weights reach this machine, so the model is generated: `bench/python/clip.py make`
//! writes a `CLIPModel` whose vision tower has the shapes of openai/clip-vit-base-patch32
//! (12 layers, width 768, 32-pixel patches, 224-pixel input, projection 512) with transformers'
//! random initialisation (the speed does not depend on the values), and photo-like 640x480
//! JPEGs. Both engines embed from the encoded bytes: decoding, EXIF orientation, CLIP's
//! preprocessing (Pillow's bicubic resize, crop, normalisation) and the vision tower are all
//! timed. For each batch size, each engine makes one warm-up call and then calls for at least
//! `--seconds` (and 3 calls), cycling through the images; the table gives images/s for both
//! and Trove's speed over PyTorch's. Every image's vector is compared between the engines
//! (cosine; JPEG decoders differ by a level here and there, so this is a check of the whole
//! path at full size, not of bit-exactness).
//!
//! `cargo run --release -p trove-bench --bin clip [-- --threads 2 --seconds 5 --batches 1,8]`.
//! PyTorch comes from `scripts/bench-venv` (`--python` to pass another interpreter, which needs
//! torch, transformers and Pillow); `--trove-only` skips it but still needs that Python once, to
//! generate the model. The model (about 350 MB) is written to a temporary folder and removed
//! afterwards, unless `--dir` names a folder to keep it in and reuse.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Parser;
use serde::Deserialize;
use trove_bench::bench_python;
use trove_embed::{ClipModel, LocalOptions};

#[derive(Parser, Debug)]
#[command(about = "CLIP image embedding speed: Trove beside PyTorch on the same generated ViT-B/32")]
struct Args {
    /// Threads for both engines.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Seconds of calls per engine and batch size (after a warm-up call; at least 3 calls).
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Images per call.
    #[arg(long, value_delimiter = ',', default_value = "1,8")]
    batches: Vec<usize>,
    /// How many test images to generate.
    #[arg(long, default_value_t = 16)]
    images: usize,
    /// Keep the generated model and images in this folder (reused when it already holds them).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// The Python to generate the model and run PyTorch with (default: `scripts/bench-venv`).
    #[arg(long)]
    python: Option<PathBuf>,
    /// Time Trove only.
    #[arg(long)]
    trove_only: bool,
}

/// One batch size's timing by one engine.
#[derive(Debug, Deserialize)]
struct Cell {
    batch: usize,
    calls: usize,
    wall_s: f64,
}

impl Cell {
    fn images_per_s(&self) -> f64 {
        (self.calls * self.batch) as f64 / self.wall_s
    }
}

/// What `clip.py run` prints.
#[derive(Debug, Deserialize)]
struct PythonRun {
    version: String,
    cells: Vec<Cell>,
    vectors: Vec<Vec<f32>>,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("python/clip.py")
}

/// Writes the model and the images into `dir` unless they are there.
fn generate(python: &Path, dir: &Path, images: usize) -> Result<()> {
    if dir.join("model.safetensors").is_file() && dir.join("images").is_dir() {
        eprintln!("==> reusing the model and images in {}", dir.display());
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    // The tokenizer files of the parity fixtures (the text tower is not timed).
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/trove-embed/tests/fixtures/clip");
    for f in ["vocab.json", "merges.txt"] {
        std::fs::copy(fixtures.join(f), dir.join(f)).with_context(|| format!("copying {f}"))?;
    }
    eprintln!("==> generating a ViT-B/32 CLIP with random weights and {images} images in {}", dir.display());
    let status = Command::new(python)
        .arg(script())
        .args(["make", &dir.display().to_string(), &images.to_string()])
        .status()
        .with_context(|| format!("cannot run {}", python.display()))?;
    if !status.success() {
        bail!("{} make failed ({status})", script().display());
    }
    Ok(())
}

fn run_python(python: &Path, dir: &Path, args: &Args) -> Result<PythonRun> {
    let batches: Vec<String> = args.batches.iter().map(usize::to_string).collect();
    let out = Command::new(python)
        .arg(script())
        .args(["run", &dir.display().to_string(), &args.threads.to_string(), &args.seconds.to_string()])
        .arg(batches.join(","))
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run {}", python.display()))?;
    if !out.status.success() {
        bail!("{} run failed ({})", script().display(), out.status);
    }
    serde_json::from_slice(&out.stdout).context("reading what clip.py printed")
}

fn trove_cell(model: &ClipModel, images: &[Vec<u8>], batch: usize, seconds: f64) -> Result<Cell> {
    let pick = |at: usize| -> Vec<&[u8]> { (0..batch).map(|j| images[(at + j) % images.len()].as_slice()).collect() };
    model.embed_images(&pick(0))?;
    let (started, mut calls, mut at) = (Instant::now(), 0, 0);
    while calls < 3 || started.elapsed().as_secs_f64() < seconds {
        model.embed_images(&pick(at))?;
        at += batch;
        calls += 1;
    }
    Ok(Cell { batch, calls, wall_s: started.elapsed().as_secs_f64() })
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.batches.is_empty() || args.batches.contains(&0) || args.images == 0 {
        bail!("--batches and --images must be positive");
    }
    let python = match &args.python {
        Some(p) => p.clone(),
        None => bench_python()?,
    };
    let temp = tempfile::tempdir()?;
    let dir = args.dir.clone().unwrap_or_else(|| temp.path().join("clip-vit-b-32-random"));
    generate(&python, &dir, args.images)?;

    let started = Instant::now();
    let model = ClipModel::load_with(&dir, &LocalOptions { threads: args.threads, ..LocalOptions::default() })?;
    eprintln!("loaded {} in {:.0} ms", dir.display(), started.elapsed().as_secs_f64() * 1e3);
    let mut names: Vec<PathBuf> =
        std::fs::read_dir(dir.join("images"))?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    names.sort();
    let images: Vec<Vec<u8>> = names.iter().map(std::fs::read).collect::<Result<_, _>>()?;

    let mut trove = Vec::new();
    for &batch in &args.batches {
        let cell = trove_cell(&model, &images, batch, args.seconds)?;
        eprintln!("    Trove, batch {batch}: {:.2} images/s", cell.images_per_s());
        trove.push(cell);
    }
    let reference = if args.trove_only {
        None
    } else {
        eprintln!("==> timing PyTorch");
        Some(run_python(&python, &dir, &args)?)
    };

    println!(
        "\nCLIP ViT-B/32 image embedding (random weights, {} photo-like 640x480 JPEGs, from the encoded \
         bytes: decoding, preprocessing, vision tower), {} threads, {:.1} s per engine and batch size",
        images.len(),
        args.threads,
        args.seconds
    );
    println!("- Trove: built-in, {} threads", model.threads());
    if let Some(r) = &reference {
        println!("- PyTorch: {}", r.version);
    }
    println!("\n| images per call | Trove images/s | PyTorch images/s | Trove ÷ PyTorch |");
    println!("|---:|---:|---:|---:|");
    for (i, cell) in trove.iter().enumerate() {
        let theirs = reference.as_ref().map(|r| r.cells[i].images_per_s());
        let (t, ratio) = match theirs {
            Some(p) => (format!("{p:.2}"), format!("{:.2}", cell.images_per_s() / p)),
            None => ("–".into(), "–".into()),
        };
        println!("| {} | {:.2} | {t} | {ratio} |", cell.batch, cell.images_per_s());
    }
    if let Some(r) = &reference {
        let refs: Vec<&[u8]> = images.iter().map(Vec::as_slice).collect();
        let ours = model.embed_images(&refs)?;
        if ours.len() != r.vectors.len() {
            bail!("PyTorch embedded {} images, Trove {}", r.vectors.len(), ours.len());
        }
        let cosines: Vec<f64> = ours.iter().zip(&r.vectors).map(|(a, b)| cosine(a, b)).collect();
        let lowest = cosines.iter().copied().fold(f64::INFINITY, f64::min);
        let mean = cosines.iter().sum::<f64>() / cosines.len() as f64;
        println!(
            "\nTrove's vectors against PyTorch's, {} images: lowest cosine {lowest:.6}, mean {mean:.6}",
            cosines.len()
        );
    }
    Ok(())
}
