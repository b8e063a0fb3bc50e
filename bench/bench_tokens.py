"""Token counts of a run's records: a real tokenizer against the labelled estimate, and the counting speed.

    .venv/bin/python bench/bench_tokens.py --data-root D --run-id R --tokenizer path/to/tokenizer.json
    .venv/bin/python bench/bench_tokens.py --data-root D --run-id R      # trains a small BPE vocabulary first

Give the student's own ``tokenizer.json`` (a model directory's, read offline; a ``tokenizer_config.json``
beside it with a ``chat_template`` renders the conversation first, as TRL does) to see how far the estimate
(``dataset.tokens`` without a tokenizer) is from the real count: it must stay above it, so that the card's
``max_length`` keeps every record whole. Without one, a byte-level BPE vocabulary of 16k tokens is trained on
the records themselves (a stand-in, not a model's vocabulary). Prints characters per token, the estimate's
ratio to the real count (min, median, max), and records counted per second.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fitsense_luigi.contracts import splits
from fitsense_luigi.dataset import tokens
from fitsense_luigi.pipeline.store import RunStore


def train_stand_in(texts: list[str], directory: Path) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=16000, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(texts, trainer)
    path = directory / "tokenizer.json"
    tokenizer.save(str(path))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--tokenizer", help="a local tokenizer.json (default: a BPE vocabulary trained here)")
    args = parser.parse_args()
    store = RunStore(args.data_root, args.run_id)
    records = store.records()
    if not records:
        raise SystemExit(f"run {args.run_id}: no records under {args.data_root}")
    conversations = [[dict(m) for m in r["messages"]] for r in records]
    with tempfile.TemporaryDirectory() as scratch:
        path = args.tokenizer or str(train_stand_in([m["content"] for c in conversations for m in c], Path(scratch)))
        real, estimate = tokens.token_counter(path), tokens.token_counter(None)
        started = time.perf_counter()
        counted = [real.count(c) for c in conversations]
        elapsed = time.perf_counter() - started
    estimated = [estimate.count(c) for c in conversations]
    chars = [sum(len(m["content"]) for m in c) for c in conversations]
    per_token = [n / c.total for n, c in zip(chars, counted, strict=True)]
    ratio = [e.total / c.total for e, c in zip(estimated, counted, strict=True)]
    print(f"records: {len(records)} ({', '.join(splits.SPLITS)}) of run {args.run_id}")
    print(f"tokenizer: {real.method}")
    print(f"characters per token: min {min(per_token):.2f}, median {statistics.median(per_token):.2f}, "
          f"max {max(per_token):.2f}")  # fmt: skip
    print(f"estimate / real (whole conversation): min {min(ratio):.2f}, median {statistics.median(ratio):.2f}, "
          f"max {max(ratio):.2f}; records the estimate undercounts: {sum(r < 1 for r in ratio)}")  # fmt: skip
    print(f"max_length from real counts: {tokens.max_length_for([c.total for c in counted])}, from the estimate: "
          f"{tokens.max_length_for([e.total for e in estimated])}")  # fmt: skip
    print(f"counting speed: {len(records) / elapsed:,.0f} records/s ({elapsed:.2f} s)")


if __name__ == "__main__":
    main()
