"""Sigma engine: rules parsed by pySigma, evaluated vectorized on polars event batches."""
