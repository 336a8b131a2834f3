"""llama.cpp and the speculative loop: runtime, sampling, drafters, `auto`, the engine, bench, load guard."""
