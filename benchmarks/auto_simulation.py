"""`auto` against every fixed k on a simulated pair with the H200 testbed's costs and sampled acceptance (each
draft token kept with probability alpha): the figures behind tests/unit/test_engine_parts.py's bounds.

    python -m benchmarks.auto_simulation
"""

from __future__ import annotations

from tests.unit.test_engine_parts import auto_against_fixed


def main() -> None:
    print("alpha  seed  first answer / best k  second answer / best k")
    for alpha in (0.6, 0.75, 0.9, 0.97):
        for seed in range(3):
            first, second = auto_against_fixed(alpha, seed)
            print(f"{alpha:5.2f}  {seed:4d}  {first:21.3f}  {second:22.3f}")


if __name__ == "__main__":
    main()
