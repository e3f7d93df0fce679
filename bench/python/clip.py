"""The PyTorch side of Trove's CLIP benchmark (`cargo run --release -p trove-bench --bin clip`),
never run by hand:

    python clip.py make DIR IMAGES     # a ViT-B/32 CLIP with random weights, and test photos
    python clip.py run DIR THREADS SECONDS BATCHES

`make` writes into DIR (which already holds vocab.json and merges.txt) a `CLIPModel` whose
vision tower has the shapes of openai/clip-vit-base-patch32 (12 layers, width 768, 32-pixel
patches, projection 512) and whose text tower is small (it is not timed), with transformers'
random initialisation, saved as safetensors with `config.json` and `preprocessor_config.json`;
and IMAGES photo-like 640x480 JPEGs under DIR/images.

`run` embeds the images as a user of transformers would: Pillow decodes the bytes (EXIF
orientation applied, as Trove does), `CLIPImageProcessorPil` preprocesses, `get_image_features`
runs, vectors are L2-normalised; all of it timed, for each batch size, with one warm-up call and
then calls for at least SECONDS (and 3 calls), cycling through the images. It prints one JSON
object: versions, per batch size the calls, wall and CPU seconds, and every image's vector (for
the caller to compare with Trove's).
"""

import io
import json
import os
import sys
import time


def make(out, count):
    import numpy as np
    import torch
    from PIL import Image
    from transformers import CLIPConfig, CLIPModel
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    with open(os.path.join(out, "vocab.json"), encoding="utf-8") as f:
        vocab = json.load(f)
    torch.manual_seed(7)
    eos = vocab["<|endoftext|>"]
    config = CLIPConfig(
        text_config=dict(
            vocab_size=len(vocab),
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            bos_token_id=vocab["<|startoftext|>"],
            eos_token_id=eos,
            pad_token_id=eos,
        ),
        vision_config=dict(),  # transformers' defaults: ViT-B/32
        projection_dim=512,
    )
    CLIPModel(config).eval().save_pretrained(out, safe_serialization=True)
    CLIPImageProcessorPil().save_pretrained(out)
    os.makedirs(os.path.join(out, "images"), exist_ok=True)
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:480, 0:640]
    for i in range(count):
        a, b, c = rng.uniform(5, 40, 3)
        photo = np.stack(
            [128 + 100 * np.sin(xx / a + i), 128 + 100 * np.cos(yy / b), 128 + 90 * np.sin((xx + yy) / c)], -1
        )
        photo = np.clip(photo + rng.normal(0, 6, photo.shape), 0, 255).astype(np.uint8)
        Image.fromarray(photo).save(os.path.join(out, "images", f"{i:03}.jpg"), quality=88)


def run(out, threads, seconds, batches):
    import torch
    import transformers
    from PIL import Image, ImageOps
    from transformers import CLIPModel
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    torch.set_num_threads(threads)
    model = CLIPModel.from_pretrained(out).eval()
    processor = CLIPImageProcessorPil.from_pretrained(out)
    folder = os.path.join(out, "images")
    images = [open(os.path.join(folder, n), "rb").read() for n in sorted(os.listdir(folder))]

    def embed(batch):
        pictures = [ImageOps.exif_transpose(Image.open(io.BytesIO(b))) for b in batch]
        pixels = processor(images=pictures, return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            out = model.get_image_features(pixel_values=pixels)
        out = getattr(out, "pooler_output", out)
        return torch.nn.functional.normalize(out, dim=-1)

    cells = []
    for batch in batches:
        embed(images[:batch])
        calls, at = 0, 0
        wall, cpu = time.perf_counter(), time.process_time()
        while calls < 3 or time.perf_counter() - wall < seconds:
            embed([images[(at + j) % len(images)] for j in range(batch)])
            at += batch
            calls += 1
        cells.append(
            {"batch": batch, "calls": calls, "wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}
        )
    vectors = [v.tolist() for b in range(0, len(images), 8) for v in embed(images[b : b + 8])]
    versions = f"torch {torch.__version__}, transformers {transformers.__version__}, {threads} threads"
    print(json.dumps({"version": versions, "cells": cells, "vectors": vectors}))


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2], int(sys.argv[3]))
    else:
        run(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), [int(b) for b in sys.argv[5].split(",")])
