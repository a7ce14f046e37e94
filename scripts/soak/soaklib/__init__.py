"""The soak's pieces: /proc sampling, the load generator, the verdict."""
