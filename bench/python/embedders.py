"""Times the reference engines on the inputs Trove's `embedders` benchmark gives it.

Called by `cargo run --release -p trove-bench --bin embedders`, never by hand:

    python embedders.py MODEL_DIR INPUTS_JSON THREADS

INPUTS_JSON is `{"lengths": {"16": [text, ...], "79": [...], "256": [...]}}`. The script loads
PyTorch (through sentence-transformers) and ONNX Runtime (when installed), then answers
requests, one JSON object per line on stdin, with one JSON line each on stdout, so that the
caller can interleave its rounds with Trove's:

- first, unasked: `{"engines": [{"name", "version"}, ...]}` once both engines are loaded;
- `{"cmd": "time", "engine": NAME, "batch": B, "tokens": T, "seconds": S}`: one untimed
  warm-up call, then calls on the first B texts of length T for at least S seconds (and 3
  calls); answers `{"calls", "wall_s", "cpu_s"}` (CPU of the whole process, every thread);
- `{"cmd": "vectors"}`: `{"vectors": {NAME: {T: [[float, ...], ...]}}}`, every engine's
  embedding of every input (one call per length), so that the caller can compare them.

The ONNX graph is exported by torch from the same safetensors weights, into a temporary folder,
so both engines run exactly the weights Trove runs. Both tokenize with the model's
`tokenizer.json` (the `tokenizers` library under sentence-transformers), and the time of
tokenizing, mean pooling and normalising is counted for every engine, as it is for Trove.
Progress and library messages go to stderr; stdout carries only the answers.
"""

import json
import os
import sys
import tempfile
import time


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def timed(run, texts, seconds):
    """One warm-up call, then calls on `texts` for at least `seconds` (and 3 calls)."""
    run(texts)
    calls = 0
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    while calls < 3 or time.perf_counter() - t0 < seconds:
        run(texts)
        calls += 1
    return {"calls": calls, "wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - cpu0}


def load_engines(model_dir, threads):
    """The engines as (name, version, run) with `run(texts)` returning normalised vectors."""
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
    engines = [("PyTorch", version, run_torch)]

    try:
        import onnxruntime as ort
    except ImportError:
        log("==> ONNX Runtime is not installed; skipped")
        return engines
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

    engines.append(("ONNX Runtime", f"onnxruntime {ort.__version__} (fp32, MLAS)", run_ort))
    return engines


def main():
    model_dir, inputs_path, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    lengths = json.load(open(inputs_path, encoding="utf-8"))["lengths"]
    # Answers go to the real stdout only; anything a library prints goes to stderr.
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    sys.stdout = sys.stderr

    def answer(obj):
        answers.write(json.dumps(obj) + "\n")
        answers.flush()

    engines = load_engines(model_dir, threads)
    by_name = {name: run for name, _, run in engines}
    answer({"engines": [{"name": name, "version": version} for name, version, _ in engines]})
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        if req["cmd"] == "time":
            texts = lengths[str(req["tokens"])][: req["batch"]]
            answer(timed(by_name[req["engine"]], texts, float(req["seconds"])))
        elif req["cmd"] == "vectors":
            answer({"vectors": {name: {length: [list(map(float, v)) for v in run(texts)]
                                       for length, texts in lengths.items()}
                                for name, _, run in engines}})
        else:
            raise SystemExit(f"unknown request {req!r}")


if __name__ == "__main__":
    main()
