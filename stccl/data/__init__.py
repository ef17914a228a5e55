"""Datasets: layouts, preparation, the prepared-clip store, cross-emotion pairs."""
