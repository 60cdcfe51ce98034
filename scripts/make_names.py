"""Build data/names/*.txt, the kit's bundled name lists, from the PyPI package ``names``.

``names`` 0.3.0 (Trey Hunner, MIT licence, 2013; an sdist only) ships three lists from the
1990 US Census, which are US-government works in the public domain:

* ``dist.female.first`` — 4,275 female first names,
* ``dist.male.first``   — 1,219 male first names,
* ``dist.all.last``     — 88,799 surnames,

each line ``NAME  frequency  cumulative-frequency  rank``. This script keeps the names only,
lower-cased, one per line, in the census's order (most frequent first), and prints each
file's sha256 for data/README.md and gankit/text.py. The lessons read these files, so they
need neither the package nor a network.

Reproduce (from the repository root):

    .venv/bin/pip download --no-deps --no-binary :all: names==0.3.0 -d /tmp/names
    .venv/bin/python scripts/make_names.py /tmp/names/names-0.3.0.tar.gz
"""

from __future__ import annotations

import hashlib
import sys
import tarfile
from pathlib import Path

OUT_DIR = Path(__file__).resolve().parents[1] / "data" / "names"
SDIST_SHA256 = "726e46254f2ed03f1ffb5d941dae3bc67c35123941c29becd02d48d0caa2a671"  # names-0.3.0.tar.gz
LISTS = {  # output file → member of the sdist
    "female.txt": "names-0.3.0/names/dist.female.first",
    "male.txt": "names-0.3.0/names/dist.male.first",
    "surnames.txt": "names-0.3.0/names/dist.all.last",
}


def main(sdist: Path) -> None:
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        sys.exit(f"{sdist} has sha256 {digest}, not that of names-0.3.0.tar.gz ({SDIST_SHA256}).")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    with tarfile.open(sdist) as tar:
        for out_name, member in LISTS.items():
            lines = tar.extractfile(member).read().decode("ascii").splitlines()
            names = [line.split()[0].lower() for line in lines if line.strip()]
            if not all(name.isalpha() and name.isascii() for name in names):
                sys.exit(f"{member}: expected letters a-z only; the file changed.")
            if len(set(names)) != len(names):
                sys.exit(f"{member}: a name is listed twice; the file changed.")
            path = OUT_DIR / out_name
            path.write_text("\n".join(names) + "\n", encoding="ascii", newline="\n")
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
            print(f"{path.relative_to(OUT_DIR.parents[1])}: {len(names):,} names, sha256 {sha}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
