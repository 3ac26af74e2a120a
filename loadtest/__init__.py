"""Load tests and benchmarks of WaveCom Notify (``make bench``, see loadtest/README.md)."""
