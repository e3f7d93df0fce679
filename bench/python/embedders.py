"""Times the reference engines on the inputs Trove's `embedders` benchmark gives it.

Called by `cargo run --release -p trove-bench --bin embedders`, never by hand:

    python embedders.py MODEL_DIR INPUTS_JSON THREADS SECONDS

INPUTS_JSON is `{"lengths": {"16": [text, ...], "79": [...], "256": [...]}, "batches": [1, 8, 32]}`.
Prints one JSON object on stdout: per engine (PyTorch through sentence-transformers, and ONNX
Runtime when it is installed) its version and one timing cell per (batch, length), plus the
embeddings of every input (batch 32) so that the caller can compare them. Progress goes to stderr.

The ONNX graph is exported by torch from the same safetensors weights, into a temporary folder,
so both engines run exactly the weights Trove runs. Both tokenize with the model's
`tokenizer.json` (the `tokenizers` library under sentence-transformers), and the time of
tokenizing, mean pooling and normalising is counted for every engine, as it is for Trove.
"""

import json
import os
import sys
import tempfile
import time


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def timed(run, batch, texts, seconds):
    """Calls `run` on batches of `texts` for at least `seconds` (and 3 calls); one cell."""
    inputs = texts[:batch]
    run(inputs)  # warm-up
    calls = 0
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    while calls < 3 or time.perf_counter() - t0 < seconds:
        run(inputs)
        calls += 1
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    return {
        "batch": batch,
        "sentences_per_s": calls * batch / wall,
        "ms_per_call": wall * 1e3 / calls,
        "cpu_ms_per_call": cpu * 1e3 / calls,
    }


def engine(name, version, run, lengths, batches, seconds):
    log(f"==> {name} {version}")
    cells = []
    for length, texts in lengths.items():
        for batch in batches:
            cell = timed(run, batch, texts, seconds)
            cell["tokens"] = int(length)
            cells.append(cell)
            log(f"    batch {batch:>2} x {length:>3} tokens: {cell['sentences_per_s']:.1f} sentences/s")
    vectors = {length: [list(map(float, v)) for v in run(texts)] for length, texts in lengths.items()}
    return {"name": name, "version": version, "cells": cells, "vectors": vectors}


def main():
    model_dir, inputs_path, threads, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    spec = json.load(open(inputs_path, encoding="utf-8"))
    lengths, batches = spec["lengths"], spec["batches"]

    import numpy as np
    import sentence_transformers
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    model = SentenceTransformer(model_dir, device="cpu")
    model.max_seq_length = 256

    def run_torch(texts):
        with torch.inference_mode():
            return model.encode(texts, batch_size=len(texts), normalize_embeddings=True, convert_to_numpy=True)

    version = f"torch {torch.__version__}, sentence-transformers {sentence_transformers.__version__}"
    engines = [engine("PyTorch", version, run_torch, lengths, batches, seconds)]

    try:
        import onnxruntime as ort
    except ImportError:
        ort = None
        log("==> ONNX Runtime is not installed; skipped")
    if ort is not None:
        bert = model[0].auto_model.eval()

        class LastHidden(torch.nn.Module):
            def __init__(self, bert):
                super().__init__()
                self.bert = bert

            def forward(self, input_ids, attention_mask):
                return self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

        folder = tempfile.mkdtemp(prefix="trove-onnx-")
        path = os.path.join(folder, "model.onnx")
        example = torch.ones(2, 16, dtype=torch.long)
        dynamic = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                   "last_hidden_state": {0: "batch", 1: "seq"}}
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(LastHidden(bert), (example, example), path, input_names=["input_ids", "attention_mask"],
                              output_names=["last_hidden_state"], dynamic_axes=dynamic, opset_version=17,
                              dynamo=False)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        tokenizer = model.tokenizer

        def run_ort(texts):
            enc = tokenizer(texts, padding=True, truncation=True, max_length=256, return_tensors="np")
            ids, mask = enc["input_ids"].astype(np.int64), enc["attention_mask"].astype(np.int64)
            hidden = session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
            m = mask[:, :, None].astype(np.float32)
            pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
            return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

        engines.append(engine("ONNX Runtime", f"onnxruntime {ort.__version__} (fp32, MLAS)", run_ort, lengths,
                              batches, seconds))

    json.dump({"engines": engines}, sys.stdout)


if __name__ == "__main__":
    main()
