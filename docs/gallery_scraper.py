"""How sphinx-gallery runs gradflow's example scripts and finds their figures.

The scripts in ``examples/`` are command-line programs: each writes its PNGs and a results
file into ``--out DIR`` and closes its figures, so matplotlib's own scraper would find
nothing.  ``example_argv`` gives each script an output directory under ``docs/_build`` (and
``--quick`` where the script has it, so the gallery builds in minutes), and ``png_scraper``
embeds every PNG that appeared in that directory while a code block ran.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from sphinx_gallery.scrapers import figure_rst

OUT_ROOT = Path(__file__).resolve().parent / "_build" / "gallery-out"
# Arguments beyond --out/--quick that keep the gallery build short, per script.  Each script
# is still run on the paper's settings: these shrink grids, never change the model.
EXTRA_ARGS: dict[str, list[str]] = {}
_SEEN: dict[Path, set[Path]] = {}  # output directory -> PNGs already embedded


def _out_dir(src_file: str | Path) -> Path:
    return OUT_ROOT / Path(src_file).stem


def example_argv(gallery_conf: dict, script_vars: dict) -> list[str]:
    """Command-line arguments for one example script (sphinx-gallery's ``reset_argv``)."""
    src = Path(script_vars["src_file"])
    out = _out_dir(src)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    _SEEN[out] = set()
    argv = ["--out", str(out)]
    if re.search(r"""["']--quick["']""", src.read_text()):
        argv.append("--quick")
    return argv + EXTRA_ARGS.get(src.stem, [])


def png_scraper(block, block_vars: dict, gallery_conf: dict) -> str:
    """Embed the PNGs the running example wrote since the previous block."""
    out = _out_dir(block_vars["src_file"])
    seen = _SEEN.setdefault(out, set())
    new = sorted(p for p in out.rglob("*.png") if p not in seen) if out.exists() else []
    seen.update(new)
    images = []
    for png, dest in zip(new, block_vars["image_path_iterator"], strict=False):
        shutil.copyfile(png, dest)
        images.append(dest)
    if not images:
        return ""
    return figure_rst(images, gallery_conf["src_dir"])
