"""GGUF files on disk: the metadata reader, model facts and checks, the vocabulary rule, the library."""
