"""The worker runtime: the Faust app, batching, the pipeline, health, metrics
and self-recovery."""
