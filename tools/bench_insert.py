"""Bulk against one-by-one insertion of the same articles, measured in one run.

    python -m tools.bench_insert --count 1000 --repeats 3

Each repeat inserts the same generated articles into a fresh database holding the declared
indexes, once with unordered `insert_many` batches and once with one `insert_one` per
document, alternating, and reports the median of each and their ratio.
"""

import argparse
import asyncio
import statistics
import time
import uuid
from datetime import UTC, datetime

from models import Article
from scripts.seed import SeedPlan, generate, insert_batches
from service.config import Settings
from service.engine import collection, open_engine


async def _timed(bulk: bool, articles: list[dict], settings: Settings) -> float:
    database = f"folio_bench_{uuid.uuid4().hex[:12]}"
    engine = await open_engine(settings.model_copy(update={"database": database}))
    try:
        documents = [dict(article) for article in articles]
        started = time.perf_counter()
        if bulk:
            await insert_batches(Article, documents)
        else:
            for document in documents:
                await collection(Article).insert_one(document)
        return time.perf_counter() - started
    finally:
        await engine.client.drop_database(database)
        engine.close()


async def measure(count: int, repeats: int, settings: Settings) -> dict[str, float]:
    """Median seconds for each way, and how many times faster bulk is."""
    plan = SeedPlan(users=50, articles=count, comments=0, follows=0, favorites=0)
    articles = generate(plan, datetime(2026, 1, 1, tzinfo=UTC)).articles
    bulk, single = [], []
    for _ in range(repeats):
        bulk.append(await _timed(True, articles, settings))
        single.append(await _timed(False, articles, settings))
    return {"bulk": statistics.median(bulk), "single": statistics.median(single),
            "ratio": statistics.median(single) / statistics.median(bulk)}


def main() -> None:
    """Run the measurement and print a Markdown table row."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    result = asyncio.run(measure(args.count, args.repeats, Settings()))
    print("| documents | insert_many (s) | insert_one loop (s) | bulk is × faster |")
    print("|---:|---:|---:|---:|")
    print(f"| {args.count} | {result['bulk']:.3f} | {result['single']:.3f} | {result['ratio']:.1f} |")


if __name__ == "__main__":
    main()
