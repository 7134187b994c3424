"""Checks on an author's asset paths before any run: nothing may point outside the asset library."""

from __future__ import annotations

from pathlib import Path

from schemas import InputError, Project


def check_library_paths(project: Project, library: Path, project_file: str | Path) -> None:
    library = Path(library).resolve()
    entries = [(f"characters[{i}].portrait", c.portrait or f"characters/{c.id}.png")
               for i, c in enumerate(project.characters)]
    entries += [(f"locations[{i}].background", loc.background or f"backgrounds/{loc.id}.png")
                for i, loc in enumerate(project.locations)]
    for field, rel in entries:
        target = (library / rel).resolve()  # follows symlinks: a link out of the library is refused too
        if target != library and library not in target.parents:
            raise InputError(project_file, field, f"asset path {rel!r} resolves outside the asset library {library}")
