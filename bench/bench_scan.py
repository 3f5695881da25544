"""paneseal scan vs detect-secrets 1.5.0 on a generated, labelled tmuxinator corpus.

Generates the corpus (bench/scan_corpus.py: >= 2,000 files, ~20 MB, planted secrets of
every rule plus decoys), creates bench/.venv-ds with detect-secrets==1.5.0 on first use
(its own venv: never a project dependency), then scans the same files with:

  * paneseal (in-process, one thread: rules + keyword prefilter + position mapping),
  * paneseal with the keyword prefilter switched off (what the prefilter buys),
  * detect-secrets 1.5.0 with its default plugins and filters, in one process (one core).

A hit is counted per (file, line): a labelled line reported is a true positive, any other
reported line a false positive.  Throughput is MB of input per second of CPU on one core.

Honesty: paneseal's rules and this generator were written together, so paneseal's
recall and precision here are an upper bound.  See docs/scan.md for the real corpus.

    python3 bench/bench_scan.py [--files 2000] [--ds-files N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from scan_corpus import generate  # noqa: E402

DS_VERSION = "1.5.0"
DS_VENV = HERE / ".venv-ds"
DS_SCRIPT = r"""
import json, sys, time
from detect_secrets.core.scan import scan_file
from detect_secrets.settings import default_settings
files = json.load(sys.stdin)
hits = []
with default_settings():
    t0 = time.process_time()
    for path in files:
        for s in scan_file(path):
            hits.append([path, s.line_number, s.type])
    cpu = time.process_time() - t0
print(json.dumps({"hits": hits, "cpu": cpu}))
"""


def ensure_detect_secrets() -> Path:
    py = DS_VENV / "bin" / "python"
    if py.exists():
        r = subprocess.run(
            [str(py), "-c", "import importlib.metadata as m; print(m.version('detect-secrets'))"],
            capture_output=True,
            text=True,
            check=False,
        )
        if r.stdout.strip() == DS_VERSION:
            return py
    print(f"creating {DS_VENV} with detect-secrets=={DS_VERSION} ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(DS_VENV)], check=True)
    subprocess.run(
        [str(py), "-m", "pip", "install", "-q", f"detect-secrets=={DS_VERSION}"], check=True
    )
    return py


def run_paneseal(files: list[Path], prefilter: bool = True) -> tuple[set[tuple[str, int]], float]:
    from paneseal.scan.rules import RULES
    from paneseal.scan.scanner import scan_text

    rules = RULES if prefilter else tuple(dataclasses.replace(r, keywords=()) for r in RULES)
    hits: set[tuple[str, int]] = set()
    t0 = time.process_time()
    for path in files:
        text = path.read_bytes().decode("utf-8", "replace")
        for f in scan_text(text, path.name, b"bench", rules):
            hits.add((path.name, f.line))
    return hits, time.process_time() - t0


def run_detect_secrets(py: Path, files: list[Path]) -> tuple[set[tuple[str, int]], float]:
    r = subprocess.run(
        [str(py), "-c", DS_SCRIPT],
        input=json.dumps([str(p) for p in files]),
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(r.stdout)
    return {(Path(p).name, int(line)) for p, line, _ in data["hits"]}, float(data["cpu"])


def score(
    hits: set[tuple[str, int]], labels: dict[str, list[list[object]]], names: set[str]
) -> tuple[float, float, int, int, int]:
    want = {(f, int(str(lab[0]))) for f, labs in labels.items() if f in names for lab in labs}
    tp = len(hits & want)
    fp = len(hits - want)
    recall = tp / len(want) if want else 0.0
    precision = tp / (tp + fp) if tp + fp else 0.0
    return recall, precision, tp, fp, len(want)


def per_kind_recall(
    hits: set[tuple[str, int]], labels: dict[str, list[list[object]]], names: set[str]
) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for f, labs in labels.items():
        if f not in names:
            continue
        for lab in labs:
            kind = str(lab[1])
            found, total = out.get(kind, (0, 0))
            out[kind] = (found + ((f, int(str(lab[0]))) in hits), total + 1)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument(
        "--ds-files",
        type=int,
        default=0,
        help="scan only the first N files with detect-secrets (it is slow); 0 = all",
    )
    ap.add_argument("--keep", type=Path, help="write the corpus here and keep it")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bs", dir="/tmp")) if args.keep is None else args.keep
    try:
        corpus = tmp / "corpus"
        info = generate(corpus, args.files, seed=6)
        labels = json.loads((tmp / "corpus.labels.json").read_text())
        files = sorted(corpus.iterdir())
        total_mb = sum(p.stat().st_size for p in files) / 1e6
        n_labels = sum(len(v) for v in labels.values())
        kinds = {str(lab[1]) for labs in labels.values() for lab in labs}
        print(
            f"corpus: {len(files)} files, {total_mb:.1f} MB, {n_labels} planted secrets of "
            f"{len(kinds)} kinds, {info['files']} projects"
        )
        ds_py = ensure_detect_secrets()
        ds_files = files[: args.ds_files] if args.ds_files else files
        ds_mb = sum(p.stat().st_size for p in ds_files) / 1e6

        rows = []
        all_names = {p.name for p in files}
        ps_hits, ps_cpu = run_paneseal(files)
        rows.append(("paneseal", ps_hits, ps_cpu, total_mb, all_names))
        np_hits, np_cpu = run_paneseal(files, prefilter=False)
        rows.append(("paneseal, no prefilter", np_hits, np_cpu, total_mb, all_names))
        ds_hits, ds_cpu = run_detect_secrets(ds_py, ds_files)
        ds_names = {p.name for p in ds_files}
        rows.append((f"detect-secrets {DS_VERSION}", ds_hits, ds_cpu, ds_mb, ds_names))

        print()
        print(
            f"{'scanner':<26} {'files':>6} {'recall':>8} {'precision':>10} {'TP':>6} "
            f"{'FP':>6} {'CPU s':>8} {'MB/s':>8} {'vs d-s':>8}"
        )
        ds_rate = ds_mb / ds_cpu if ds_cpu else float("nan")
        for name, hits, cpu, mb, names in rows:
            recall, precision, tp, fp, _ = score(hits, labels, names)
            rate = mb / cpu if cpu else float("inf")
            print(
                f"{name:<26} {len(names):>6} {recall:>8.1%} {precision:>10.1%} {tp:>6} "
                f"{fp:>6} {cpu:>8.2f} {rate:>8.2f} {rate / ds_rate:>7.1f}x"
            )
        print()
        print("recall by kind (paneseal | detect-secrets):")
        ps_k = per_kind_recall(ps_hits, labels, all_names)
        ds_k = per_kind_recall(ds_hits, labels, ds_names)
        for kind in sorted(ps_k):
            a, n = ps_k[kind]
            b, m = ds_k.get(kind, (0, 0))
            print(f"  {kind:<24} {a:>3}/{n:<3} | {b:>3}/{m:<3}")
        print(
            "\nnote: paneseal's rules and this generator share an author: its figures here are "
            "an upper bound (docs/scan.md has the real-corpus counts)."
        )
    finally:
        if args.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
