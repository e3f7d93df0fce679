"""LanceDB (embedded, Rust core) as the reference of Trove's scale benchmark, on the same chunks
and vectors Trove stored (captured by the benchmark's embeddings server during Trove's ingest).

Called by `cargo run --release -p trove-bench --bin scale`, never by hand:

    python scale_lancedb.py build DB_DIR CAPTURE_DIR
    python scale_lancedb.py first DB_DIR QUERIES_JSON MODE INDEX NPROBES REFINE
    python scale_lancedb.py warm DB_DIR QUERIES_JSON ROUNDS NPROBES REFINE

CAPTURE_DIR holds `texts.jsonl` (one JSON string a line) and `vectors.f32` (little-endian f32
rows of the dimension given in QUERIES_JSON or 384). QUERIES_JSON is `{"queries": [{"text",
"vector"}]}`. Each command prints one JSON object on stdout; progress goes to stderr.

- build: writes the table (id, text, vector), then a native full-text index on `text` and an
  IVF_HNSW_SQ cosine index on `vector` at LanceDB's defaults; their times and the disk size.
- first: the seconds of `import lancedb`, then of connect + open + the first query of MODE
  (keyword, semantic or hybrid) with query number INDEX: what a new process pays.
- warm: per mode, one unmeasured pass over the queries, then ROUNDS measured passes: p50 and
  p99 in ms; semantic at LanceDB's defaults and at NPROBES / REFINE (the refine factor), hybrid
  at NPROBES / REFINE; the cosines of every semantic answer, for recall against exact search.
"""

import json
import os
import resource
import sys
import time
import warnings

DIMENSION = 384
TABLE = "chunks"
BATCH = 65536

warnings.filterwarnings("ignore")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def disk_bytes(path):
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    return total


def build(db_dir, capture_dir):
    import lancedb
    import numpy as np
    import pyarrow as pa
    from lancedb.index import FTS, HnswSq

    vectors = np.memmap(os.path.join(capture_dir, "vectors.f32"), dtype="<f4", mode="r").reshape(-1, DIMENSION)
    schema = pa.schema(
        [("id", pa.int64()), ("text", pa.string()), ("vector", pa.list_(pa.float32(), DIMENSION))]
    )

    def batches():
        start = 0
        texts = []
        with open(os.path.join(capture_dir, "texts.jsonl"), encoding="utf-8") as f:
            for line in f:
                texts.append(json.loads(line))
                if len(texts) == BATCH:
                    yield batch(start, texts)
                    start += len(texts)
                    texts = []
        if texts:
            yield batch(start, texts)

    def batch(start, texts):
        end = start + len(texts)
        flat = pa.array(np.ascontiguousarray(vectors[start:end]).ravel(), pa.float32())
        return pa.record_batch(
            [
                pa.array(np.arange(start, end), pa.int64()),
                pa.array(texts, pa.string()),
                pa.FixedSizeListArray.from_arrays(flat, DIMENSION),
            ],
            schema=schema,
        )

    db = lancedb.connect(db_dir)
    t0 = time.perf_counter()
    table = db.create_table(TABLE, data=pa.RecordBatchReader.from_batches(schema, batches()), mode="overwrite")
    write_s = time.perf_counter() - t0
    rows = table.count_rows()
    if rows != vectors.shape[0]:
        raise SystemExit(f"wrote {rows} rows but {vectors.shape[0]} vectors were captured")
    log(f"    lancedb: {rows} rows written in {write_s:.1f} s; building the full-text index")
    t0 = time.perf_counter()
    table.create_index("text", config=FTS())
    fts_s = time.perf_counter() - t0
    log(f"    lancedb: full-text index in {fts_s:.1f} s; building the IVF_HNSW_SQ index")
    t0 = time.perf_counter()
    table.create_index("vector", config=HnswSq(distance_type="cosine"))
    vector_s = time.perf_counter() - t0
    log(f"    lancedb: vector index in {vector_s:.1f} s")
    indices = [
        {"name": i.name, "type": str(i.index_type), "columns": list(i.columns)} for i in table.list_indices()
    ]
    return {
        "version": lancedb.__version__,
        "rows": rows,
        "write_s": write_s,
        "fts_index_s": fts_s,
        "vector_index_s": vector_s,
        "disk_bytes": disk_bytes(db_dir),
        "indices": indices,
    }


def query(table, mode, q, nprobes, refine):
    """One query; the rows as a pyarrow table."""
    if mode == "keyword":
        return table.search(q["text"], query_type="fts").limit(10).select(["id"]).to_arrow()
    if mode == "semantic":
        s = table.search(q["vector"], query_type="vector").distance_type("cosine").limit(10)
    elif mode == "hybrid":
        s = table.search(query_type="hybrid").vector(q["vector"]).text(q["text"]).distance_type("cosine").limit(10)
    else:
        raise SystemExit(f"unknown mode {mode}")
    if nprobes:
        s = s.nprobes(nprobes)
    if refine:
        s = s.refine_factor(refine)
    return s.select(["id"]).to_arrow()


def first(db_dir, queries_json, mode, index, nprobes, refine):
    q = json.load(open(queries_json, encoding="utf-8"))["queries"][index]
    t0 = time.perf_counter()
    import lancedb

    import_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    table = lancedb.connect(db_dir).open_table(TABLE)
    rows = query(table, mode, q, nprobes, refine)
    open_query_s = time.perf_counter() - t0
    return {"import_s": import_s, "open_query_s": open_query_s, "hits": rows.num_rows}


def percentile(sorted_values, p):
    rank = max(1, min(len(sorted_values), int(-(-p * len(sorted_values) // 1))))
    return sorted_values[rank - 1]


def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def warm(db_dir, queries_json, rounds, nprobes, refine):
    import lancedb

    queries = json.load(open(queries_json, encoding="utf-8"))["queries"]
    table = lancedb.connect(db_dir).open_table(TABLE)
    settings = [
        ("keyword", "keyword", 0, 0),
        ("semantic_default", "semantic", 0, 0),
        ("semantic", "semantic", nprobes, refine),
        ("hybrid", "hybrid", nprobes, refine),
    ]
    out = {"version": lancedb.__version__, "nprobes": nprobes, "refine": refine, "rounds": rounds, "modes": {}}
    for name, mode, np_, rf in settings:
        for q in queries:
            query(table, mode, q, np_, rf)
        times = []
        ids = []
        for r in range(rounds):
            for q in queries:
                t0 = time.perf_counter()
                rows = query(table, mode, q, np_, rf)
                times.append((time.perf_counter() - t0) * 1e3)
                if r == 0 and mode == "semantic":
                    ids.append(rows.column("id").to_pylist())
        times.sort()
        out["modes"][name] = {
            "p50_ms": percentile(times, 0.5),
            "p99_ms": percentile(times, 0.99),
            "samples": len(times),
            "ids": ids,
        }
        log(f"    lancedb warm {name}: p50 {out['modes'][name]['p50_ms']:.2f} ms")
    out["rss_mb"] = rss_mb()
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main():
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "build":
        result = build(sys.argv[2], sys.argv[3])
    elif command == "first":
        db, qs, mode, index, nprobes, refine = sys.argv[2:8]
        result = first(db, qs, mode, int(index), int(nprobes), int(refine))
    elif command == "warm":
        db, qs, rounds, nprobes, refine = sys.argv[2:7]
        result = warm(db, qs, int(rounds), int(nprobes), int(refine))
    else:
        raise SystemExit(__doc__)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
