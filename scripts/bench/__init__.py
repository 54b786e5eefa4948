"""`nox -s bench`: the pipeline's time and memory per step, its fixed cost and overhead, and
its usearch index against faiss HNSW, hnswlib and exact search. See docs/bench/README.md."""
