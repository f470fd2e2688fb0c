"""Print the README's command for `demo` or `test` (the block after its marker)."""

import pathlib
import sys

which = sys.argv[1]
lines = pathlib.Path(__file__).resolve().parents[1].joinpath("README.md").read_text().splitlines()
start = lines.index(f"<!-- {which}-command -->")
block = lines[start + 1 :]
assert block[0].startswith("```"), f"README: a ``` block must follow the {which} marker"
end = block.index("```", 1)
print("\n".join(block[1:end]))
