"""Host-side model pipeline: GGUF validation, sharding, manifests and the model store."""
