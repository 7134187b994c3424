"""Writing engine: outline -> Script (§5.5, §19.0 option B: a deterministic template generator)."""

from .inputs import library_root, load_outline, load_project, outline_path
from .template import GENERATOR, check_outline, write_script

__all__ = ["GENERATOR", "check_outline", "library_root", "load_outline", "load_project", "outline_path", "write_script"]
