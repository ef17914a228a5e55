"""Throughput and memory benchmarks. They print ratios against baselines measured in the same run."""
